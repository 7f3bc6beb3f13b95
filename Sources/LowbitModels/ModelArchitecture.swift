import LowbitFormats

/// One family of decoder models: how it is recognised in a Hugging Face `config.json` and in
/// GGUF metadata, how its hyperparameters and tensor names map between the two, and what its
/// forward pass is made of. ``ArchitectureRegistry`` lists the entries.
///
/// See `docs/adding-an-architecture.md` for how to add one.
public protocol ModelArchitecture: Sendable {
    /// The name users see ("Llama").
    static var name: String { get }
    /// The Hugging Face `architectures[0]` values the entry handles.
    static var huggingFaceArchitectures: [String] { get }
    /// `model_type` values, for configs without `architectures`, and the architecture each means.
    static var huggingFaceModelTypes: [String: String] { get }
    /// The GGUF `general.architecture` llama.cpp writes for the family.
    static var ggufArchitecture: String { get }
    /// The family's tensor names in Hugging Face checkpoints and GGUF files.
    static var tensorNames: TensorNameTable { get }

    /// Reads `config.json` (`file` names it in errors) into the family's hyperparameters.
    static func hyperparameters(hfConfig: JSONValue, file: String) throws -> LlamaHyperparameters
    /// Reads the GGUF metadata of `source`; refuses variants of the GGUF architecture the entry
    /// does not handle (such as a mixture of experts under the same name).
    static func hyperparameters(gguf source: any TensorSource) throws -> LlamaHyperparameters
    /// The forward pass of a model with these hyperparameters, its weights stored in `layout`.
    static func forwardPass(_ hyperparameters: LlamaHyperparameters,
                            ropeLayout: ForwardPassDescription.RopeLayout) -> ForwardPassDescription
}
