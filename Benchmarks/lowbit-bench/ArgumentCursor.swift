/// Walks a command line by hand (the benchmark links only Lowbit's modules, not
/// swift-argument-parser): the current argument, its value, and the rest.
struct ArgumentCursor {
    let arguments: [String]
    private(set) var index = 0
    /// Reports a usage error and exits.
    let fail: (String) -> Never

    init(_ arguments: [String], fail: @escaping (String) -> Never) {
        self.arguments = arguments
        self.fail = fail
    }

    /// The next argument, or nil at the end.
    mutating func next() -> String? {
        guard index < arguments.count else { return nil }
        defer { index += 1 }
        return arguments[index]
    }

    /// The value of the option just read; a usage error when there is none.
    mutating func value() -> String {
        guard index < arguments.count else { fail("\(arguments[index - 1]) needs a value") }
        defer { index += 1 }
        return arguments[index]
    }

    /// Every argument not read yet (consumes them).
    mutating func rest() -> [String] {
        defer { index = arguments.count }
        return Array(arguments[index...])
    }
}
