import LowbitFormats

/// The registry of weight layouts: every layout Lowbit reads back, in the order they are asked
/// to recognise a tensor (multi-part layouts before the plain ones).
public enum WeightLayouts {
    /// Every layout. A new layout is one file and one line here.
    public static let registered: [any WeightLayout.Type] = [
        PackedIntLayout.self,
        FP8Layout.self,
        MLXAffineLayout.self,
        GGUFBlockLayout.self,
        FloatLayout.self,
    ]

    /// The weight whose first stored part is `tensor`, found by the first registered layout that
    /// recognises it; nil when none does (a trailing part, or a tensor Lowbit cannot read).
    /// - Throws: the recognising layout's `FormatError` when the weight's parts disagree.
    public static func recognise(_ tensor: TensorInfo, in checkpoint: StoredCheckpoint) throws -> StoredWeight? {
        for layout in registered {
            if let weight = try layout.recognise(tensor, in: checkpoint) { return weight }
        }
        return nil
    }
}
