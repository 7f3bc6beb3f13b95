import Foundation
import LowbitFormats
import LowbitQuant

/// One problem `lowbit verify` found.
public struct VerificationProblem: Sendable, CustomStringConvertible {
    public var file: String
    public var tensor: String?
    public var reason: String

    public var description: String {
        tensor.map { "\(file): '\($0)': \(reason)" } ?? "\(file): \(reason)"
    }
}

/// Re-reads a model end to end: the container parses under every rule the readers enforce,
/// every tensor Lowbit can decode decodes to finite values, and the parts of every quantized
/// safetensors weight (packed codes, scales, shape) agree with each other.
public struct Verifier {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Checks the model; returns the problems found (empty when it is sound) and the number of
    /// tensors checked. A file that does not even open throws.
    public func run(progress: ((Int, Int) -> Void)? = nil) throws -> (checked: Int, problems: [VerificationProblem]) {
        let source = try ModelFile.open(path)
        var problems: [VerificationProblem] = []
        let names = Set(source.tensors.map(\.name))
        for (i, tensor) in source.tensors.enumerated() {
            defer { progress?(i + 1, source.tensors.count) }
            if TensorDecoder.canDecode(tensor.type) {
                let stripRows = max(1, (8 << 20) / max(1, tensor.rowLength))
                var row = 0
                while row < tensor.rowCount {
                    let rows = row..<min(tensor.rowCount, row + stripRows)
                    do {
                        let values = try TensorDecoder.decode(tensor, from: source, rows: rows)
                        let bad = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
                        if bad > 0 {
                            problems.append(.init(file: tensor.file, tensor: tensor.name, reason: "\(bad) NaN or Inf values"))
                            break
                        }
                    } catch {
                        problems.append(.init(file: tensor.file, tensor: tensor.name, reason: "does not decode: \(error)"))
                        break
                    }
                    row = rows.upperBound
                }
                source.release(tensor)
            }
            problems += checkParts(tensor, names: names, source: source)
        }
        return (source.tensors.count, problems)
    }

    /// compressed-tensors parts must come together with consistent shapes.
    private func checkParts(_ tensor: TensorInfo, names: Set<String>, source: any TensorSource) -> [VerificationProblem] {
        guard let parts = CompressedTensorsLayout.packedParts(of: tensor, lookup: { names.contains($0) ? source.tensor(named: $0) : nil })
        else { return [] }
        var problems: [VerificationProblem] = []
        for part in parts.missing {
            problems.append(.init(file: tensor.file, tensor: tensor.name, reason: "has no \(part)"))
        }
        guard let shapeInfo = parts.shape, let scaleInfo = parts.scale,
              shapeInfo.type == .safetensors(.I64), shapeInfo.elementCount == 2 else { return problems }
        let shape: [Int64]? = try? source.withBytes(of: shapeInfo) { raw in
            (0..<2).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }
        }
        guard let shape, shape[0] > 0, shape[1] > 0 else {
            return problems + [.init(file: tensor.file, tensor: shapeInfo.name, reason: "not a valid shape")]
        }
        let rows = Int(shape[0]), columns = Int(shape[1])
        let words = tensor.rowLength
        guard tensor.rowCount == rows, words > 0, (words * 32) % columns == 0 || words * 32 >= columns else {
            return problems + [.init(file: tensor.file, tensor: tensor.name,
                                     reason: "\(tensor.rowCount)x\(words) words do not hold a \(rows)x\(columns) weight")]
        }
        let bits = words * 32 / columns
        if ![2, 4, 8].contains(bits) || words != (columns * bits + 31) / 32 {
            problems.append(.init(file: tensor.file, tensor: tensor.name,
                                  reason: "\(words) words per row do not pack \(columns) values of 2, 4 or 8 bits"))
        }
        if scaleInfo.rowCount != rows || scaleInfo.rowLength == 0 || columns % scaleInfo.rowLength != 0 {
            problems.append(.init(file: tensor.file, tensor: scaleInfo.name,
                                  reason: "shape \(scaleInfo.rowMajorShape) does not give whole groups of a \(rows)x\(columns) weight"))
        }
        return problems
    }
}
