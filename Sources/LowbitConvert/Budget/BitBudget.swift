/// The size a budgeted conversion aims for (`--target-bpw`, `--target-size`).
public enum BitBudget: Sendable, Equatable {
    /// Bits of tensor data per parameter, over every tensor written (llama-quantize's "BPW":
    /// norms and other unquantized tensors count too).
    case bitsPerWeight(Double)
    /// Bytes of tensor data in the output (the file adds its header: metadata and tokenizer).
    case bytes(Int)

    /// The tensor-data bytes the budget allows for a model of `parameters` parameters.
    public func bytes(parameters: Int) -> Int {
        switch self {
        case .bitsPerWeight(let bpw): Int((bpw * Double(parameters) / 8).rounded(.down))
        case .bytes(let b): b
        }
    }

    /// How summaries print it.
    public var description: String {
        switch self {
        case .bitsPerWeight(let b): "\(b) bits per weight"
        case .bytes(let b): "\(b) bytes"
        }
    }
}
