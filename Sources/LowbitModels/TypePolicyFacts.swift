/// The facts about a model that llama.cpp's per-tensor type policy consults besides tensor
/// names (`n_layer`, `n_gqa`, `n_expert`); the policy itself stays with the converter.
public struct TypePolicyFacts: Sendable, Equatable {
    /// The block count (`n_layer`).
    public var layerCount: Int
    /// Query heads per KV head (`n_gqa`).
    public var queryHeadsPerKVHead: Int
    /// Experts per layer (`n_expert`); 0 for dense models.
    public var expertCount: Int

    /// Facts from their values.
    public init(layerCount: Int, queryHeadsPerKVHead: Int, expertCount: Int) {
        self.layerCount = layerCount
        self.queryHeadsPerKVHead = queryHeadsPerKVHead
        self.expertCount = expertCount
    }
}
