import LowbitQuant

/// Which FP8 weights share a scale, as `--fp8-granularity` names it.
public enum FP8ScaleGranularity: String, Sendable, CaseIterable {
    /// One scale for the whole tensor.
    case tensor
    /// One scale per row (compressed-tensors `channel`, which is accepted as a synonym).
    case row
    /// One scale per 128 x 128 block (DeepSeek-V3, compressed-tensors `FP8_BLOCK`).
    case block

    /// Looks a granularity up by its name, case-insensitively (`channel` means ``row``).
    public init?(name: String) {
        let key = name.lowercased()
        if key == "channel" { self = .row; return }
        self.init(rawValue: key)
    }

    /// The quantizer's granularity.
    public var quantizerGranularity: FP8Quantizer.Granularity {
        switch self {
        case .tensor: .tensor
        case .row: .row
        case .block: .block128
        }
    }
}
