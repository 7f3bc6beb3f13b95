/// The plain floating-point element formats Lowbit converts to and from `Float`.
public enum FloatFormat: Sendable, CaseIterable {
    case f32, f16, bf16, f64, f8e4m3, f8e5m2, f8e8m0

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .f64: 8
        case .f8e4m3, .f8e5m2, .f8e8m0: 1
        }
    }
}
