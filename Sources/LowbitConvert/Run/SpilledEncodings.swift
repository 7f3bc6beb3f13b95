import Foundation
import LowbitFormats
import LowbitQuant
import LowbitSystem

/// A ``CalibratedEncodings`` that keeps each tensor's result in its own file of a temporary
/// directory instead of in memory, so that a large model's results never all sit in RAM: a
/// result is written once when the method produces it, and read back when the converter
/// reaches the tensor.
///
/// The directory is registered with the process's temporary outputs, so an interrupt removes
/// it; ``remove()`` removes it when the conversion is over.
///
/// File layout (little-endian): `bits, groupSize, rows, columns, words, scales, offsets` as
/// Int64, then the packed words (UInt32), the scales and the offsets (Float32).
public final class SpilledEncodings: CalibratedEncodings, @unchecked Sendable {
    /// The method's name for summaries.
    public let method: String
    /// Members changed in the compressed-tensors `weights` arguments.
    public let weightsArguments: [(key: String, value: JSONValue)]
    /// The temporary directory holding the results.
    public let directory: String
    private let registration: Int
    private let lock = NSLock()
    private var files: [String: String] = [:]

    /// A store in a new temporary directory beside `output` (the conversion's output path, so
    /// that the results use the output's filesystem rather than a RAM-backed `/tmp`, and an
    /// interrupt reports the output as not written).
    /// - Throws: ``ConvertError`` when the directory cannot be made.
    public init(method: String, weightsArguments: [(key: String, value: JSONValue)] = [], output: String) throws {
        self.method = method
        self.weightsArguments = weightsArguments
        let parent = (output as NSString).deletingLastPathComponent
        let dir = ((parent.isEmpty ? "." : parent) as NSString)
            .appendingPathComponent(".lowbit-\(method)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        registration = TemporaryOutputs.shared.register(temporary: dir, final: output)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        } catch {
            TemporaryOutputs.shared.unregister(registration)
            throw ConvertError.missingInput("cannot create the temporary directory for \(method) results: \(error.localizedDescription)", file: dir)
        }
        directory = dir
    }

    /// Stores `result` for the source tensor `name` (a weight of `rows × columns` on `quantizer`'s grid).
    /// - Throws: ``ConvertError`` naming the file and the tensor when it cannot be written.
    public func store(_ result: IntGroupQuantizer.Result, for name: String, quantizer: IntGroupQuantizer,
                      rows: Int, columns: Int) throws {
        let path = lock.withLock { () -> String in
            let p = (directory as NSString).appendingPathComponent("\(files.count).bin")
            files[name] = p
            return p
        }
        var bytes = CompressedTensorsLayout.littleEndianBytes(
            [quantizer.bits, quantizer.groupSize, rows, columns, result.packed.count, result.scales.count,
             result.offsets?.count ?? 0].map(Int64.init))
        bytes += CompressedTensorsLayout.littleEndianBytes(result.packed)
        bytes += CompressedTensorsLayout.littleEndianBytes(result.scales.map(\.bitPattern))
        bytes += CompressedTensorsLayout.littleEndianBytes((result.offsets ?? []).map(\.bitPattern))
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw ConvertError.unsupportedTensor(tensor: name, file: path, reason: "cannot write the \(method) result")
        }
    }

    /// Whether `name` has a stored result.
    public func contains(_ name: String) -> Bool { lock.withLock { files[name] != nil } }

    /// Reads back the result of `name`, checked against the grid and shape the converter expects.
    public func result(for name: String, quantizer q: IntGroupQuantizer, rows: Int, columns: Int) throws -> IntGroupQuantizer.Result? {
        guard let path = lock.withLock({ files[name] }) else { return nil }
        func bad(_ reason: String) -> ConvertError { .unsupportedTensor(tensor: name, file: path, reason: reason) }
        guard let data = FileManager.default.contents(atPath: path), data.count >= 56 else {
            throw bad("the \(method) result is missing or truncated")
        }
        let bytes = [UInt8](data)
        func int64(_ i: Int) -> Int {
            Int(Int64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i * 8, as: Int64.self) }))
        }
        let header = (0..<7).map(int64)
        let (words, scales, offsets) = (header[4], header[5], header[6])
        guard header[0] == q.bits, header[1] == q.groupSize, header[2] == rows, header[3] == columns else {
            throw bad("the \(method) result is INT\(header[0]) g\(header[1]) for \(header[2]) × \(header[3]); the output stores INT\(q.bits) g\(q.groupSize) for \(rows) × \(columns)")
        }
        guard words == rows * q.wordsPerRow(rowLength: columns), scales == rows * q.groupsPerRow(rowLength: columns),
              offsets == (q.hasOffsets ? scales : 0), data.count == 56 + 4 * (words + scales + offsets) else {
            throw bad("the \(method) result's sizes do not match its grid")
        }
        func uint32s(_ start: Int, _ count: Int) -> [UInt32] {
            bytes.withUnsafeBytes { raw in
                (0..<count).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 56 + 4 * (start + $0), as: UInt32.self)) }
            }
        }
        return IntGroupQuantizer.Result(packed: uint32s(0, words),
                                        scales: uint32s(words, scales).map(Float.init(bitPattern:)),
                                        offsets: q.hasOffsets ? uint32s(words + scales, offsets).map(Float.init(bitPattern:)) : nil)
    }

    /// Removes the directory and its results.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
        TemporaryOutputs.shared.unregister(registration)
    }
}
