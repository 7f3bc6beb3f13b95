import LowbitFormats

/// The architectures Lowbit handles, and the one decision of which entry a model belongs to:
/// the converter and the evaluator both ask here.
public enum ArchitectureRegistry {
    /// Every entry, in the order their names are listed to users.
    public static let entries: [any ModelArchitecture.Type] = [
        Llama.self,
    ]

    /// The names a checkpoint without `config.json` is read with: the Llama family's, which most
    /// Hugging Face decoder checkpoints share.
    public static var defaultTensorNames: TensorNameTable { Llama.tensorNames }

    /// Every Hugging Face architecture Lowbit handles.
    public static var supportedHuggingFaceArchitectures: [String] { entries.flatMap { $0.huggingFaceArchitectures } }

    /// Every GGUF architecture Lowbit handles.
    public static var supportedGGUFArchitectures: [String] { entries.map { $0.ggufArchitecture } }

    /// The entry for a Hugging Face `config.json` (`architectures[0]`, else `model_type`). An
    /// unknown architecture is an error naming `file` and listing the supported ones.
    public static func entry(hfConfig config: JSONValue, file: String) throws -> any ModelArchitecture.Type {
        let listed = config["architectures"]?.arrayValue?.first?.stringValue
        let modelType = config["model_type"]?.stringValue ?? ""
        let byType = entries.lazy.compactMap { $0.huggingFaceModelTypes[modelType] }.first
        let arch = listed ?? byType ?? (modelType.isEmpty ? "unknown" : modelType)
        guard let entry = entries.first(where: { $0.huggingFaceArchitectures.contains(arch) }) else {
            throw FormatError(.unsupportedModel, file: file, item: "architectures",
                              "unsupported architecture '\(arch)' (Lowbit handles \(supportedHuggingFaceArchitectures.joined(separator: ", ")))")
        }
        return entry
    }

    /// The entry for a GGUF file, from `general.architecture`; the entry then reads the rest of
    /// the metadata and refuses variants it does not handle.
    public static func entry(gguf source: any TensorSource) throws -> any ModelArchitecture.Type {
        guard let arch = source.metadataValue("general.architecture")?.stringValue else {
            throw FormatError(.badMetadata, file: source.path, item: "general.architecture", "the key is missing")
        }
        guard let entry = entries.first(where: { $0.ggufArchitecture == arch }) else {
            throw FormatError(.unsupportedModel, file: source.path, item: "general.architecture",
                              "unsupported architecture '\(arch)' (Lowbit handles \(supportedGGUFArchitectures.joined(separator: ", ")))")
        }
        return entry
    }

    /// Reads a Hugging Face `config.json` with the entry it belongs to.
    public static func hyperparameters(hfConfig config: JSONValue, file: String) throws -> LlamaHyperparameters {
        try entry(hfConfig: config, file: file).hyperparameters(hfConfig: config, file: file)
    }

    /// Reads a GGUF file's metadata with the entry it belongs to.
    public static func hyperparameters(gguf source: any TensorSource) throws -> LlamaHyperparameters {
        try entry(gguf: source).hyperparameters(gguf: source)
    }
}
