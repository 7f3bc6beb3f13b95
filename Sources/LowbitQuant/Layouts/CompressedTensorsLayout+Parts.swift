import LowbitFormats

extension CompressedTensorsLayout {
    /// The stored tensors of one `pack-quantized` weight, found by name beside its
    /// `X.weight_packed`: the one place that reads compressed-tensors part names back (for
    /// `QuantizedCheckpointView` and `lowbit verify`).
    public struct PackedParts {
        /// `X`, the module the weight belongs to.
        public var prefix: String
        /// `X.weight_packed`.
        public var packed: TensorInfo
        /// `X.weight_scale`, if present.
        public var scale: TensorInfo?
        /// `X.weight_shape`, if present.
        public var shape: TensorInfo?
        /// `X.weight_zero_point` (asymmetric weights), if present.
        public var zeroPoint: TensorInfo?

        /// The names of the required parts that are absent (`X.weight_scale`, `X.weight_shape`).
        public var missing: [String] {
            [(scale, "weight_scale"), (shape, "weight_shape")].compactMap { $0.0 == nil ? "\(prefix).\($0.1)" : nil }
        }

        /// Every part present, for hiding or releasing them together.
        public var present: [TensorInfo] { [packed] + [scale, shape, zeroPoint].compactMap { $0 } }
    }

    /// The parts of the packed weight `tensor` is the `weight_packed` of, looked up with `lookup`;
    /// nil when `tensor` is not a `weight_packed`.
    public static func packedParts(of tensor: TensorInfo, lookup: (String) -> TensorInfo?) -> PackedParts? {
        guard tensor.name.hasSuffix(".weight_packed") else { return nil }
        let prefix = String(tensor.name.dropLast(".weight_packed".count))
        return PackedParts(prefix: prefix, packed: tensor, scale: lookup(prefix + ".weight_scale"),
                           shape: lookup(prefix + ".weight_shape"), zeroPoint: lookup(prefix + ".weight_zero_point"))
    }
}
