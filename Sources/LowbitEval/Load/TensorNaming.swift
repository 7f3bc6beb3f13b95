import LowbitModels

/// The tensor names of a Llama-family model in each file layout: ``LowbitModels/TensorNameLayout``
/// with the names the evaluator looks up (from ``LowbitModels/LlamaTensorNames``, the table the
/// converter uses too).
public typealias TensorNaming = TensorNameLayout

extension TensorNameLayout {
    /// The weights of one decoder layer.
    public typealias Role = LlamaTensorNames.Role

    /// The token embedding.
    public var tokenEmbedding: String { LlamaTensorNames.name(.tokenEmbedding, in: self) }

    /// The final norm.
    public var outputNorm: String { LlamaTensorNames.name(.outputNorm, in: self) }

    /// The output head; when the file lacks it, the head is tied to the token embedding.
    public var output: String { LlamaTensorNames.name(.output, in: self) }

    /// The weight of `role` in layer `index`.
    public func layer(_ index: Int, _ role: Role) -> String {
        LlamaTensorNames.name(layer: index, role, in: self)
    }
}
