import LowbitFormats

/// Why a scheme string could not be parsed.
public struct QuantSchemeParseError: Error, Equatable, CustomStringConvertible {
    /// The whole string given.
    public var text: String
    /// The part that was not understood, and why.
    public var reason: String

    public var description: String { "cannot parse quantization scheme '\(text)': \(reason)" }
}

extension QuantScheme {
    /// Parses a command-line spelling of a scheme.
    ///
    /// - A GGUF type name (`q8_0`, `q4_k`, `iq4_nl`, case-insensitive) gives ``gguf(_:)``.
    /// - Otherwise `-`-separated tokens, the first naming the element: `fp8` (= `fp8-e4m3`),
    ///   `fp8-e5m2`, `int2`...`int8`, `nf4`; then any of:
    ///   `tensor`, `row` (or `channel`), `g32`/`g64`/`g128`/`gN` (or `group128`),
    ///   `block` (128x128) or `blockRxC`; `sym`, `asym` (integer zero point), `min` (float
    ///   minimum / bias); `scale-f32`, `scale-f16`, `scale-bf16`, `scale-e8m0`; `search`.
    ///
    /// Defaults: FP8 is per row with f32 scales; integers use groups of 128, symmetric, bf16
    /// scales (the dtype of the BF16 checkpoints compressed-tensors models are made from).
    /// Examples: `fp8`, `fp8-block`, `fp8-e5m2-tensor`, `int4`, `int4-g64-asym`, `int8-row`.
    public init(parsing text: String) throws(QuantSchemeParseError) {
        let lowered = text.lowercased()
        if let type = GGMLType(name: lowered) {
            guard let scheme = QuantScheme.gguf(type) else {
                throw QuantSchemeParseError(text: text, reason: "\(type.name) is not a quantized block type")
            }
            self = scheme
            return
        }
        var tokens = lowered.split(separator: "-").map(String.init)
        guard !tokens.isEmpty else { throw QuantSchemeParseError(text: text, reason: "empty") }
        let head = tokens.removeFirst()
        switch head {
        case "fp8":
            var variant = FP8Variant.e4m3
            if let first = tokens.first, let v = FP8Variant(rawValue: first) {
                variant = v
                tokens.removeFirst()
            }
            self.init(element: .float8(variant), granularity: .perRow, scaleFormat: .f32)
        case "nf4":
            self.init(element: .codebook(.nf4), granularity: .perGroup(64), scaleFormat: .bf16)
        default:
            guard head.hasPrefix("int"), let bits = Int(head.dropFirst(3)), (2...8).contains(bits) else {
                throw QuantSchemeParseError(text: text, reason: "unknown element type '\(head)'")
            }
            self.init(element: .integer(bits: bits), granularity: .perGroup(128), scaleFormat: .bf16)
        }
        var index = 0
        while index < tokens.count {
            let token = tokens[index]
            index += 1
            switch token {
            case "tensor": granularity = .perTensor
            case "row", "channel": granularity = .perRow
            case "block": granularity = .perBlock(rows: 128, columns: 128)
            case "sym", "symmetric": offset = .symmetric
            case "asym", "zp": offset = .zeroPoint
            case "min", "affine": offset = .minimum
            case "search", "mse": searchesScale = true
            case "scale":
                guard index < tokens.count else {
                    throw QuantSchemeParseError(text: text, reason: "'scale' needs a format")
                }
                let name = tokens[index]
                index += 1
                guard let format = [FloatFormat.f32, .f16, .bf16, .f8e8m0].first(where: { $0.schemeName == name })
                else { throw QuantSchemeParseError(text: text, reason: "unknown scale format '\(name)'") }
                scaleFormat = format
            default:
                if let n = Self.number(after: "group", in: token) ?? Self.number(after: "g", in: token) {
                    guard n > 0 else { throw QuantSchemeParseError(text: text, reason: "group size must be positive") }
                    granularity = .perGroup(n)
                } else if token.hasPrefix("block") {
                    let dims = token.dropFirst(5).split(separator: "x").compactMap { Int($0) }
                    guard dims.count == 2, dims[0] > 0, dims[1] > 0 else {
                        throw QuantSchemeParseError(text: text, reason: "block size '\(token)' is not RxC")
                    }
                    granularity = .perBlock(rows: dims[0], columns: dims[1])
                } else {
                    throw QuantSchemeParseError(text: text, reason: "unknown option '\(token)'")
                }
            }
        }
        if case .float8 = element, offset != .symmetric {
            throw QuantSchemeParseError(text: text, reason: "FP8 schemes are symmetric")
        }
    }

    private static func number(after prefix: String, in token: String) -> Int? {
        guard token.hasPrefix(prefix) else { return nil }
        return Int(token.dropFirst(prefix.count))
    }
}
