import LowbitFormats
import LowbitQuant

/// The types a conversion can aim for, as `--type` names them: every GGUF target (whose float
/// types also name plain-float safetensors outputs) and the quantized safetensors types of
/// ``SafetensorsType/all``.
///
/// This is the one table of supported types: help texts and error messages list ``allCases``.
public enum TargetType: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// A GGUF block type, float type or mix (a float type written to safetensors is plain floats).
    case gguf(GGUFTarget)
    /// A quantized safetensors type (compressed-tensors FP8 or INT, MLX affine).
    case safetensors(SafetensorsType)

    /// Every type, GGUF targets first.
    public static var allCases: [TargetType] {
        GGUFTarget.allCases.map { .gguf($0) } + SafetensorsType.all.map { .safetensors($0) }
    }

    /// The name `--type` takes (`q4_k_m`, `fp8-405b`, `int4`).
    public var name: String {
        switch self {
        case .gguf(let target): target.name
        case .safetensors(let type): type.name
        }
    }

    /// The type's name, as ``name``.
    public var description: String { name }

    /// Looks a type up by its name, case-insensitively; nil for a name not in ``allCases``.
    public init?(name: String) {
        let key = name.lowercased()
        guard let found = Self.allCases.first(where: { $0.name == key }) else { return nil }
        self = found
    }
}

/// A quantized safetensors type `--type` offers: its name, a few words of help, and how a request
/// for it becomes a ``ConversionTarget`` (which layout, which weights). The entries are listed in
/// ``all``, in `SafetensorsType+Catalog.swift`.
public struct SafetensorsType: Hashable, Sendable, CustomStringConvertible {
    /// The name `--type` takes (`fp8`, `int4`).
    public let name: String
    /// What `convert --help` says about it (`per row by default`).
    public let help: String
    /// The target for a request (with the float format of most of the input's weights).
    let target: @Sendable (TargetRequest, FloatFormat) throws -> ConversionTarget

    /// A type named `name`, described by `help`, converting to what `target` makes of a request.
    public init(name: String, help: String,
                target: @escaping @Sendable (_ request: TargetRequest, _ sourceFloat: FloatFormat) throws -> ConversionTarget) {
        self.name = name
        self.help = help
        self.target = target
    }

    /// `name (help)`, as `convert --help` lists it.
    public var description: String { help.isEmpty ? name : "\(name) (\(help))" }

    /// Types are equal when their names are.
    public static func == (a: SafetensorsType, b: SafetensorsType) -> Bool { a.name == b.name }

    /// Hashes the name.
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
