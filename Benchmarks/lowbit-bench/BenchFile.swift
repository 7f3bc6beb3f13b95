import Dispatch
import Foundation
import LowbitFormats
import LowbitSystem

/// The generated input: a safetensors file of BF16 matrices with heavy-tailed pseudo-random
/// values (like real weights: mostly small, a few large), written with Lowbit's own writer.
enum BenchFile {
    static let rows = 4096
    static let columns = 4096

    /// Writes about `bytes` bytes of BF16 tensors to `path` (atomically) and returns the seconds
    /// it took.
    static func write(path: String, bytes: Int) throws -> Double {
        let tensorBytes = rows * columns * 2
        let count = max(1, (bytes + tensorBytes / 2) / tensorBytes)
        let plan = (0..<count).map {
            PlannedTensor(name: "model.layers.\($0).mlp.weight", type: .safetensors(.BF16), shape: [rows, columns])
        }
        let start = Measure.now()
        let writer = try SafetensorsWriter(path: path, tensors: plan, metadata: [("generator", "lowbit-bench")])
        var buffer = [UInt8](repeating: 0, count: tensorBytes)
        for t in 0..<count {
            buffer.withUnsafeMutableBytes { fill($0, seed: UInt64(t) &* 0x9E37_79B9_7F4A_7C15 &+ 1) }
            try buffer.withUnsafeBytes { try writer.append($0) }
        }
        try writer.finish()
        return Measure.now() - start
    }

    /// Fills `buffer` with BF16 values `0.02 * u^3 * 8` for pseudo-random `u` in [-0.5, 0.5),
    /// in parallel over rows.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64) {
        let elements = buffer.count / 2
        let chunk = 1 << 16
        let chunks = (elements + chunk - 1) / chunk
        let base = buffer.baseAddress!
        Parallel.forEach(chunks) { c in
            var s = seed ^ (UInt64(c) &* 0xBF58_476D_1CE4_E5B9) | 1
            let start = c * chunk, end = min(elements, start + chunk)
            var values = [Float](repeating: 0, count: end - start)
            for i in values.indices {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17
                let u = Float(s >> 40) * (1 / Float(1 << 24)) - 0.5
                values[i] = 0.16 * u * u * u
            }
            values.withUnsafeBufferPointer { v in
                FloatFormat.bf16.encode(v.baseAddress!, into: base + 2 * start, count: v.count)
            }
        }
    }
}
