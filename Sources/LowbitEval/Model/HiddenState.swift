/// The residual stream of one chunk between decoder layers, for running a model one layer at a
/// time over many chunks (``LlamaModel/embed(_:)``, ``LlamaModel/runLayer(_:on:)``,
/// ``LlamaModel/logits(from:outputPositions:)``): calibration processes layer by layer.
public struct HiddenState: Sendable {
    /// Tokens (rows) in the chunk.
    public let tokens: Int
    /// Values per token (the model's embedding length).
    public let width: Int
    /// The layers run so far; the next ``LlamaModel/runLayer(_:on:)`` must be this one.
    public internal(set) var layersDone: Int
    /// `tokens` × `width` values, row after row.
    public internal(set) var values: [Float]

    init(tokens: Int, width: Int) {
        self.tokens = tokens
        self.width = width
        layersDone = 0
        values = [Float](repeating: 0, count: tokens * width)
    }
}
