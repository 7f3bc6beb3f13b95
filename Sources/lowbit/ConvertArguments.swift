import ArgumentParser
import LowbitConvert
import LowbitQuant

// The closed sets of `convert`'s values, read case-insensitively; ArgumentParser lists
// `allValueStrings` in the help and in the error for a value outside them.

extension TargetType: ExpressibleByArgument {
    /// The value named `argument` (case-insensitive), or nil.
    public init?(argument: String) { self.init(name: argument) }
    /// The name the help shows for the default.
    public var defaultValueDescription: String { name }
    /// Every name, for the help and for the error on an unknown value.
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

extension FP8ScaleGranularity: ExpressibleByArgument {
    /// The value named `argument` (case-insensitive), or nil.
    public init?(argument: String) { self.init(name: argument) }
}

extension FP8Variant: ExpressibleByArgument {
    /// The value named `argument` (case-insensitive), or nil.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ConversionTarget.IntLayout: ExpressibleByArgument {
    /// The value named `argument` (case-insensitive), or nil.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension FloatDType: ExpressibleByArgument {
    /// The value named `argument` (case-insensitive), or nil.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
