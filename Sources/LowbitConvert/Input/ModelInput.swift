import Foundation
import LowbitFormats
import LowbitModels

/// A model opened for conversion: its tensors, how they are named, and what is known of the
/// model around them (hyperparameters, tokenizer files).
public struct ModelInput: Sendable {
    /// How the input names its tensors, and so which rotary row order Q/K use.
    public typealias Naming = TensorNameLayout

    /// The tensors: one file, or the shards of a checkpoint seen as one source.
    public let source: any TensorSource
    /// How the input names its tensors (GGUF or Hugging Face).
    public let naming: Naming
    /// The model's hyperparameters, when the input has them (GGUF metadata or `config.json`).
    public let hyperparameters: LlamaHyperparameters?
    /// The architecture the registry recognised (nil for plain tensors).
    public let architecture: (any ModelArchitecture.Type)?
    /// The Hugging Face directory the input came from, if any (for tokenizer files).
    public let directory: String?
    /// `config.json`, when present.
    public let config: JSONValue?

    /// Opens a Hugging Face directory, a `model.safetensors.index.json`, a safetensors file (with
    /// `config.json` beside it when there is one) or a GGUF file.
    public init(path: String) throws {
        let source = try ModelFile.open(path)
        self.source = source
        switch source.format {
        case .gguf:
            naming = .gguf
            directory = nil
            config = nil
            // A GGUF without `general.architecture` is converted as plain tensors.
            let entry = source.metadataValue("general.architecture") == nil
                ? nil : try ArchitectureRegistry.entry(gguf: source)
            architecture = entry
            hyperparameters = try entry?.hyperparameters(gguf: source)
        case .safetensors:
            naming = source.tensors.contains { $0.name.hasPrefix("blk.") || $0.name == "token_embd.weight" } ? .gguf : .huggingFace
            var isDirectory: ObjCBool = false
            let dir: String
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                dir = path
            } else {
                dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
            }
            let configPath = (dir as NSString).appendingPathComponent("config.json")
            if FileManager.default.fileExists(atPath: configPath) {
                let json = try JSONValue.read(file: configPath)
                config = json
                let entry = try ArchitectureRegistry.entry(hfConfig: json, file: configPath)
                architecture = entry
                hyperparameters = try entry.hyperparameters(hfConfig: json, file: configPath)
                directory = dir
            } else {
                config = nil
                architecture = nil
                hyperparameters = nil
                directory = isDirectory.boolValue ? dir : nil
            }
        }
    }

    /// The input's tensor names: its architecture's, or for plain tensors the registry's default.
    public var tensorNames: TensorNameTable {
        architecture?.tensorNames ?? ArchitectureRegistry.defaultTensorNames
    }

    /// The path of a file in the input's Hugging Face directory, if it exists.
    package func directoryFile(_ name: String) -> String? {
        guard let directory else { return nil }
        let p = (directory as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }
}
