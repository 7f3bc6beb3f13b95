import Dispatch
import Foundation
import LowbitFormats
import LowbitQuant
import LowbitSystem

/// One quantizer under test: quantizes `rows` rows of `rowLength` floats on `threads` threads.
struct QuantizerCase {
    var name: String
    /// Prepares output buffers for `rows x rowLength` and returns the closure that quantizes.
    var make: (_ rows: Int, _ rowLength: Int, _ threads: Int) -> (UnsafePointer<Float>) -> Void

    /// Every quantizer Lowbit has, in the order of the report; types whose kernel is not
    /// available are left out.
    static func all() -> [QuantizerCase] {
        var cases: [QuantizerCase] = []
        let ggufTypes: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl]
        for type in ggufTypes {
            guard let codec = GGUFCodecs.codec(for: type) else { continue }
            cases.append(QuantizerCase(name: type.name) { rows, rowLength, threads in
                let rowBytes = rowLength / type.blockSize * type.bytesPerBlock
                let output = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
                let holder = BufferHolder(output)
                return { source in
                    _ = holder
                    // Rows split evenly over the threads, each range quantized by the row codec
                    // (what TensorEncoder does, with an explicit thread count).
                    Parallel.forEach(threads) { t in
                        let r0 = rows * t / threads, r1 = rows * (t + 1) / threads
                        guard r1 > r0 else { return }
                        codec.quantize(source + r0 * rowLength,
                                       into: output + r0 * rowBytes, count: (r1 - r0) * rowLength,
                                       importance: nil)
                    }
                }
            })
        }
        cases.append(QuantizerCase(name: "FP8 per-row") { rows, rowLength, threads in
            let quantizer = FP8Quantizer(variant: .e4m3, granularity: .row, threads: threads)
            let codes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: rows * rowLength)
            let scales = UnsafeMutableBufferPointer<Float>.allocate(capacity: rows)
            let holder = BufferHolder(codes, scales)
            return { source in
                _ = holder
                quantizer.quantize(UnsafeBufferPointer(start: source, count: rows * rowLength), rowLength: rowLength,
                                   codes: codes, scales: scales)
            }
        })
        for (bits, label) in [(4, "INT4 g128"), (8, "INT8 g128")] {
            cases.append(QuantizerCase(name: label) { rows, rowLength, threads in
                let quantizer = IntGroupQuantizer(bits: bits, groupSize: 128, convention: .compressedTensors(symmetric: true),
                                                  threads: threads)
                let packed = UnsafeMutableBufferPointer<UInt32>.allocate(
                    capacity: rows * quantizer.wordsPerRow(rowLength: rowLength))
                let scales = UnsafeMutableBufferPointer<Float>.allocate(
                    capacity: rows * quantizer.groupsPerRow(rowLength: rowLength))
                let holder = BufferHolder(packed, scales)
                return { source in
                    _ = holder
                    quantizer.quantize(UnsafeBufferPointer(start: source, count: rows * rowLength), rowLength: rowLength,
                                       packed: packed, scales: scales, offsets: nil)
                }
            })
        }
        return cases
    }
}

/// Frees the output buffers of a quantizer case when its closure is dropped.
final class BufferHolder {
    private let free: () -> Void
    init(_ raw: UnsafeMutableRawPointer) { free = { raw.deallocate() } }
    init<A, B>(_ a: UnsafeMutableBufferPointer<A>, _ b: UnsafeMutableBufferPointer<B>) {
        free = { a.deallocate(); b.deallocate() }
    }
    deinit { free() }
}

/// The memory-bound kernels: memcpy, BF16 -> F32 decode, and the statistics pass.
enum StreamKernels {
    /// Time of one `memcpy` of `bytes` bytes split over the threads, best of three.
    static func memcpy(bytes: Int, threads: Int) -> Measure.Timing {
        let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, bytes)
        memset(dst, 0, bytes)
        return Measure.best {
            Parallel.forEach(threads) { t in
                let a = bytes * t / threads, b = bytes * (t + 1) / threads
                _ = Foundation.memcpy(dst + a, src + a, b - a)
            }
        }
    }

    /// Time to hash `bytes` bytes with ``ContentHash`` (one stream, so one thread), as a resumable
    /// directory conversion hashes every shard it writes; beside memcpy it shows that cost.
    static func contentHash(bytes: Int) -> Measure.Timing {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { buffer.deallocate() }
        memset(buffer, 3, bytes)
        var sink: UInt64 = 0
        let timing = Measure.best {
            var hash = ContentHash()
            var start = 0
            while start < bytes {
                let n = min(8 << 20, bytes - start)
                hash.update(UnsafeRawBufferPointer(start: buffer + start, count: n))
                start += n
            }
            sink ^= hash.value
        }
        if sink == 0x5EED { print("") }  // keeps the hash from being optimised away
        return timing
    }

    /// Time to decode every tensor of `source` to F32 (into a per-thread scratch buffer, chunk by
    /// chunk) on `threads` threads; mapped pages are released after use.
    static func decode(_ source: any TensorSource, threads: Int) throws -> Measure.Timing {
        let tensors = source.tensors
        let chunk = 1 << 20
        let failure = LockedValueBox<(any Error)?>(nil)
        let timing = Measure.best {
            Parallel.forEach(threads) { t in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
                defer { scratch.deallocate() }
                for i in stride(from: t, to: tensors.count, by: threads) {
                    let tensor = tensors[i]
                    guard let format = tensor.type.floatFormat else { continue }
                    do {
                        try source.withBytes(of: tensor) { bytes in
                            let n = bytes.count / format.byteWidth
                            var start = 0
                            while start < n {
                                let m = min(chunk, n - start)
                                format.decode(bytes.baseAddress! + start * format.byteWidth, into: scratch, count: m)
                                start += m
                            }
                        }
                    } catch {
                        failure.recordFirst(error)
                    }
                    source.release(tensor)
                }
            }
        }
        if let error = failure.withLockedValue({ $0 }) { throw error }
        return timing
    }

    /// Time of `lowbit inspect --stats`' work: TensorStatistics over every tensor of `source`.
    static func statistics(_ source: any TensorSource, threads: Int) throws -> Measure.Timing {
        try Measure.best {
            _ = try TensorStatistics.compute(source.tensors, in: source, threads: threads)
        }
    }
}
