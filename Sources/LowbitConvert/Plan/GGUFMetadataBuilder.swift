import Foundation
import LowbitFormats
import LowbitModels
import LowbitTokenizer

/// The key-values of a GGUF output: copied from a GGUF input, or built from a Hugging Face
/// checkpoint's `config.json`, `tokenizer.json` and `tokenizer_config.json`.
struct GGUFMetadataBuilder {
    let input: ModelInput
    let target: GGUFTarget

    /// Keys Lowbit sets itself, never copied from the input.
    static let ownKeys: Set<String> = ["general.file_type", "general.quantization_version"]

    func metadata() throws -> [(key: String, value: MetadataValue)] {
        var kv: [(key: String, value: MetadataValue)]
        switch input.naming {
        case .gguf:
            kv = input.source.metadata.filter { !Self.ownKeys.contains($0.key) }
        case .huggingFace:
            kv = [("general.architecture", .string(Llama.ggufArchitecture))]
            if let dir = input.directory {
                kv.append(("general.name", .string((dir as NSString).lastPathComponent)))
            }
            if let hyper = input.hyperparameters {
                kv += hyper.ggufMetadata()
                kv += try tokenizerMetadata(vocabularySize: hyper.vocabularySize)
            }
        }
        kv.append(("general.file_type", .uint32(target.fileType)))
        kv.append(("general.quantization_version", .uint32(2)))
        return kv
    }

    /// The `tokenizer.*` keys from the input directory's tokenizer files.
    func tokenizerMetadata(vocabularySize: Int) throws -> [(key: String, value: MetadataValue)] {
        guard let path = input.directoryFile("tokenizer.json") else {
            throw ConvertError.missingInput("no tokenizer.json beside the checkpoint: llama.cpp cannot run a GGUF without a tokenizer")
        }
        let json = try JSONValue.read(file: path)
        let config = try input.directoryFile("tokenizer_config.json").map(JSONValue.read(file:))
        let export = try withFileNamed(path) {
            try TokenizerExport(tokenizerJSON: json, config: config, vocabularySize: vocabularySize)
        }
        return export.ggufMetadata
    }
}
