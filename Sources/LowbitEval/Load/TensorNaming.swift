import LowbitModels

/// The names the evaluator looks up in a model's file: its architecture's
/// ``LowbitModels/TensorNameTable`` (the table the converter renames with) in the file's
/// ``LowbitModels/TensorNameLayout``.
public struct TensorNaming: Sendable, Equatable {
    /// The weights of one decoder layer.
    public typealias Role = TensorNameTable.Role

    /// Hugging Face or GGUF names (and so the rotary row order of Q and K).
    public let layout: TensorNameLayout
    /// The architecture's names.
    public let table: TensorNameTable

    /// The names of `table` in `layout`.
    public init(layout: TensorNameLayout, table: TensorNameTable) {
        self.layout = layout
        self.table = table
    }

    /// The token embedding.
    public var tokenEmbedding: String { table.name(.tokenEmbedding, in: layout) }

    /// The final norm.
    public var outputNorm: String { table.name(.outputNorm, in: layout) }

    /// The output head; when the file lacks it, the head is tied to the token embedding.
    public var output: String { table.name(.output, in: layout) }

    /// The weight of `role` in layer `index`.
    public func layer(_ index: Int, _ role: Role) -> String {
        table.name(layer: index, role, in: layout)
    }
}
