import Foundation
import LowbitFormats
import LowbitQuant

/// One problem `lowbit verify` found.
public struct VerificationProblem: Sendable, CustomStringConvertible {
    /// The file the problem is in.
    public var file: String
    /// The tensor involved, if any.
    public var tensor: String?
    /// What is wrong.
    public var reason: String

    /// `file: 'tensor': reason`.
    public var description: String {
        tensor.map { "\(file): '\($0)': \(reason)" } ?? "\(file): \(reason)"
    }
}

/// Re-reads a model end to end: the container parses under every rule the readers enforce, and
/// every weight is read back by the layout that stored it (``WeightLayouts/registered``): plain
/// and GGUF tensors decode to finite values, and the parts of every quantized safetensors weight
/// (packed codes, scales, shape, zero points) agree with each other and dequantize to finite
/// values.
public struct Verifier {
    /// The model: a GGUF file, a safetensors file or a checkpoint directory.
    public let path: String

    /// A verifier of the model at `path`.
    public init(path: String) {
        self.path = path
    }

    /// Checks the model; returns the problems found (empty when it is sound) and the number of
    /// tensors checked. A file that does not even open throws.
    public func run(progress: ((Int, Int) -> Void)? = nil) throws -> (checked: Int, problems: [VerificationProblem]) {
        let source = try ModelFile.open(path)
        let checkpoint = StoredCheckpoint(source, mlxBits: mlxBits())
        var problems: [VerificationProblem] = []
        // First which layout reads each tensor: the trailing parts of a weight (scales, biases)
        // are checked with it, not again on their own.
        var weights: [String: StoredWeight] = [:]
        var trailing = Set<String>()
        for tensor in source.tensors {
            do {
                guard let weight = try WeightLayouts.recognise(tensor, in: checkpoint) else { continue }
                weights[tensor.name] = weight
                trailing.formUnion(weight.parts.dropFirst().map(\.name))
            } catch let error as FormatError {
                problems.append(.init(file: tensor.file, tensor: error.item ?? tensor.name, reason: error.reason))
            } catch {
                problems.append(.init(file: tensor.file, tensor: tensor.name, reason: "\(error)"))
            }
        }
        for (i, tensor) in source.tensors.enumerated() {
            defer { progress?(i + 1, source.tensors.count) }
            guard let weight = weights[tensor.name], !trailing.contains(tensor.name) else { continue }
            problems += weight.verify(in: source).map {
                VerificationProblem(file: $0.part.file, tensor: $0.part.name, reason: $0.reason)
            }
        }
        return (source.tensors.count, problems)
    }

    /// The `quantization.bits` of a checkpoint directory's `config.json` (MLX), if it has one.
    private func mlxBits() -> Int? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        return (try? JSONValue.read(file: path + "/config.json"))?["quantization"]?["bits"]?.intValue
    }
}
