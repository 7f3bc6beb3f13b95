import Foundation
import LowbitFormats

/// A model opened for conversion: its tensors, how they are named, and what is known of the
/// model around them (hyperparameters, tokenizer files).
public struct ModelInput: Sendable {
    /// How the input names its tensors, and so which rotary row order Q/K use.
    public enum Naming: Sendable, Equatable {
        /// `model.layers.N.self_attn.q_proj.weight`, half-split rotary pairs.
        case huggingFace
        /// `blk.N.attn_q.weight`, adjacent rotary pairs.
        case gguf
    }

    public let source: any TensorSource
    public let naming: Naming
    /// The model's hyperparameters, when the input has them (GGUF metadata or `config.json`).
    public let hyperparameters: LlamaHyperparameters?
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
            hyperparameters = source.metadataValue("general.architecture")?.stringValue == "llama"
                ? try LlamaHyperparameters(gguf: source) : nil
            if let arch = source.metadataValue("general.architecture")?.stringValue, arch != "llama" {
                throw ConvertError.unsupportedArchitecture(arch)
            }
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
                let json = try Self.readJSON(configPath)
                config = json
                hyperparameters = try LlamaHyperparameters(hfConfig: json, file: configPath)
                directory = dir
            } else {
                config = nil
                hyperparameters = nil
                directory = isDirectory.boolValue ? dir : nil
            }
        }
    }

    /// Reads and parses a JSON file.
    public static func readJSON(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(.io, file: path, "cannot read")
        }
        do {
            return try data.withUnsafeBytes { try JSONValue.parse($0) }
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.badHeader, file: path, "invalid JSON: \(error)")
        }
    }

    /// The path of a file in the input's Hugging Face directory, if it exists.
    public func directoryFile(_ name: String) -> String? {
        guard let directory else { return nil }
        let p = (directory as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }
}
