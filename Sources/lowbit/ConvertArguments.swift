import ArgumentParser
import LowbitConvert
import LowbitQuant

// The closed sets of `convert`'s values, read case-insensitively; ArgumentParser lists
// `allValueStrings` in the help and in the error for a value outside them.

extension TargetType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

extension FP8ScaleGranularity: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension FP8Variant: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ConversionTarget.IntLayout: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension FloatDType: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
