import Foundation
import LowbitFormats
import LowbitModels
import LowbitQuant
import LowbitTokenizer

/// A model ready to evaluate: the forward pass and the tokenizer that came with it.
public struct LoadedModel: Sendable {
    /// The forward pass.
    public let model: LlamaModel
    /// The tokenizer stored with the model (GGUF metadata or `tokenizer.json`).
    public let tokenizer: Tokenizer
    /// The size of the model's files in bytes.
    public let fileBytes: Int
}

/// Opens what `lowbit perplexity` and `lowbit compare` are given as MODEL: a GGUF file, or a
/// Hugging Face directory (`config.json`, safetensors weights, `tokenizer.json`).
public enum ModelLoader {
    /// Opens the GGUF file or Hugging Face directory at `path` with its tokenizer; quantized
    /// safetensors weights (compressed-tensors, MLX) are read as the floats they stand for.
    public static func load(path: String, options: LlamaModel.Options = .init()) throws -> LoadedModel {
        let source = try openSource(path: path)
        switch source.format {
        case .gguf:
            let config = try LlamaConfig(gguf: source)
            let tokenizer = try withFileNamed(path) { try Tokenizer(ggufMetadata: source.metadata) }
            let model = try LlamaModel(source: source, config: config, naming: .gguf, options: options)
            return LoadedModel(model: model, tokenizer: tokenizer, fileBytes: fileSize(path))
        case .safetensors:
            let configJSON = try readJSON(directory: path, name: "config.json")
            let config = try LlamaConfig(huggingFace: configJSON, file: path + "/config.json")
            // compressed-tensors (INT packed, FP8) and MLX weights are read as the F32 weights
            // they stand for.
            let stored = source
            let source: any TensorSource = QuantizedCheckpointView.isQuantized(stored)
                ? try QuantizedCheckpointView(stored, mlxBits: configJSON["quantization"]?["bits"]?.intValue ?? 4)
                : stored
            let tokenizerConfig = try? readJSON(directory: path, name: "tokenizer_config.json")
            let tokenizerJSON = try readJSON(directory: path, name: "tokenizer.json")
            let tokenizer = try withFileNamed(path + "/tokenizer.json") {
                try Tokenizer(tokenizerJSON: tokenizerJSON, config: tokenizerConfig)
            }
            let model = try LlamaModel(source: source, config: config, naming: .huggingFace, options: options)
            let bytes = stored.tensors.reduce(0) { $0 + $1.byteCount }
            return LoadedModel(model: model, tokenizer: tokenizer, fileBytes: bytes)
        }
    }

    /// Opens the weights of `path`; a lone safetensors file is refused because it carries no
    /// hyperparameters or tokenizer.
    package static func openSource(path: String) throws -> any TensorSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EvalError(.io, file: path, "no such file or directory")
        }
        if isDirectory.boolValue {
            guard FileManager.default.fileExists(atPath: path + "/config.json") else {
                throw EvalError(.unsupportedModel, file: path,
                                "the directory has no config.json; a Hugging Face model directory is needed")
            }
            return try SafetensorsCheckpoint(path: path)
        }
        let source = try ModelFile.open(path)
        guard source.format == .gguf else {
            throw EvalError(.unsupportedModel, file: path,
                            "a lone safetensors file has no hyperparameters or tokenizer; pass the Hugging Face "
                            + "directory that holds it with config.json and tokenizer.json, or a GGUF file")
        }
        return source
    }

    static func readJSON(directory: String, name: String) throws -> JSONValue {
        try JSONValue.read(file: directory + "/" + name)
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}
