import LowbitFormats

/// A format-neutral description of how a weight matrix is quantized: what each element becomes,
/// which elements share a scale, whether an offset is stored, in which format scales are kept and
/// how values are rounded.
///
/// Every layout Lowbit writes is an instance: compressed-tensors FP8 / INT8 / INT4, MLX affine,
/// and each GGUF block type (``gguf(_:)``), so there is one vocabulary for all of them.
/// Matrices are row-major `[rows, columns]` (PyTorch's `[out_features, in_features]`); groups run
/// along a row.
public struct QuantScheme: Hashable, Sendable, CustomStringConvertible {
    /// What one stored element is.
    public enum Element: Hashable, Sendable {
        /// An 8-bit float (the quantized value is `scale * fp8`).
        case float8(FP8Variant)
        /// A `bits`-wide integer code (2...8 bits).
        case integer(bits: Int)
        /// A 4-bit index into a table of 16 non-uniform levels.
        case codebook(Codebook)

        /// Bits each element takes in storage.
        public var bits: Int {
            switch self {
            case .float8: 8
            case .integer(let bits): bits
            case .codebook: 4
            }
        }
    }

    /// The two 8-bit float formats used for weights.
    public enum FP8Variant: String, Hashable, Sendable, CaseIterable {
        /// E4M3 "fn": 4 exponent bits, 3 mantissa bits, no infinities, largest finite 448.
        case e4m3
        /// E5M2: 5 exponent bits, 2 mantissa bits, largest finite 57344.
        case e5m2

        /// The largest finite magnitude; quantizers clamp to it before the cast.
        public var maxFinite: Float { self == .e4m3 ? 448 : 57344 }

        /// The safetensors dtype that stores it.
        public var dtype: SafetensorsDType { self == .e4m3 ? .F8_E4M3 : .F8_E5M2 }
    }

    /// Tables of 16 non-uniform levels indexed by a 4-bit code.
    public enum Codebook: String, Hashable, Sendable, CaseIterable {
        /// NormalFloat4 (bitsandbytes / QLoRA): quantiles of a normal distribution.
        case nf4
        /// llama.cpp's IQ4_NL / IQ4_XS table (int8 levels -127...113).
        case iq4nl
        /// FP4 E2M1 levels (±0, 0.5, 1, 1.5, 2, 3, 4, 6) as MXFP4 uses them.
        case e2m1
    }

    /// Which elements share one scale.
    public enum Granularity: Hashable, Sendable {
        /// One scale for the whole tensor.
        case perTensor
        /// One scale per row (output channel); compressed-tensors calls it `channel`.
        case perRow
        /// One scale per `N` consecutive elements of a row.
        case perGroup(Int)
        /// One scale per `rows x columns` tile (DeepSeek-V3 / compressed-tensors `block`);
        /// edge tiles are smaller, the scale grid is `ceil(rows/R) x ceil(columns/C)`.
        case perBlock(rows: Int, columns: Int)
        /// GGUF K-quant super-blocks: `size` elements share a float scale (and min); each
        /// `subBlock` elements have their own `subScaleBits`-bit scale (and min) relative to it.
        case superBlock(size: Int, subBlock: Int, subScaleBits: Int)
    }

    /// How the zero of the integer grid relates to the zero of the weights.
    public enum Offset: Hashable, Sendable {
        /// `x ≈ scale * q`, q signed and centred on 0.
        case symmetric
        /// `x ≈ scale * (q - zeroPoint)` with an integer zero point per scale
        /// (compressed-tensors `symmetric: false`).
        case zeroPoint
        /// `x ≈ scale * q + minimum` with a float minimum / bias per scale (GGUF Q4_1, K-quants,
        /// MLX affine `biases`).
        case minimum
    }

    /// How a scaled value becomes an integer.
    public enum Rounding: Hashable, Sendable {
        /// Round half to even (`torch.round`, `np.round`, `rint`).
        case nearestEven
        /// Round half away from zero (C `roundf`, gguf-py `np_roundf`).
        case nearestAwayFromZero
        /// Round half towards +infinity (GGUF Q4_0/Q4_1/Q5_x: `trunc(v + 0.5)` on values >= 0).
        case nearestUp
    }

    public var element: Element
    public var granularity: Granularity
    public var offset: Offset
    /// The format scales (and float minimums) are stored in: `.f32`, `.f16`, `.bf16`, `.f8e8m0`.
    public var scaleFormat: FloatFormat
    public var rounding: Rounding
    /// Whether the scale (and min) are chosen by an error-minimising search rather than taken
    /// from the absolute maximum / range (K-quants do this; ``ScaleSearch`` optionally for INTn).
    public var searchesScale: Bool

    public init(element: Element, granularity: Granularity, offset: Offset = .symmetric,
                scaleFormat: FloatFormat = .f32, rounding: Rounding = .nearestEven,
                searchesScale: Bool = false) {
        self.element = element
        self.granularity = granularity
        self.offset = offset
        self.scaleFormat = scaleFormat
        self.rounding = rounding
        self.searchesScale = searchesScale
    }

    /// Elements sharing one scale along a row, when that is a fixed number (groups, blocks and
    /// super-blocks); nil for per-tensor and per-row schemes.
    public var groupSize: Int? {
        switch granularity {
        case .perTensor, .perRow: nil
        case .perGroup(let n): n
        case .perBlock(_, let columns): columns
        case .superBlock(let size, _, _): size
        }
    }

    /// Storage bits per weight for a `rows x columns` matrix, scales and offsets included.
    public func bitsPerWeight(rows: Int, columns: Int) -> Double {
        precondition(rows > 0 && columns > 0, "empty matrix")
        let elements = Double(rows) * Double(columns)
        let scaleBits = Double(scaleFormat.byteWidth * 8)
        // Per scale: the scale, plus a float minimum or an integer zero point of element width.
        let perScale: Double
        switch offset {
        case .symmetric: perScale = scaleBits
        case .minimum: perScale = 2 * scaleBits
        case .zeroPoint: perScale = scaleBits + Double(element.bits)
        }
        let scales: Double
        switch granularity {
        case .perTensor:
            scales = 1
        case .perRow:
            scales = Double(rows)
        case .perGroup(let n):
            scales = Double(rows) * Double((columns + n - 1) / n)
        case .perBlock(let r, let c):
            scales = Double((rows + r - 1) / r) * Double((columns + c - 1) / c)
        case .superBlock(let size, let sub, let subBits):
            let blocks = Double(rows) * Double((columns + size - 1) / size)
            let subScales = Double(size / sub) * Double(subBits) * (offset == .minimum ? 2 : 1)
            return (elements * Double(element.bits) + blocks * (perScale + subScales)) / elements
        }
        return (elements * Double(element.bits) + scales * perScale) / elements
    }

    /// Storage bits per weight for long rows (per-tensor and per-row scales counted as free;
    /// exact for group, block and super-block schemes whose size divides the row).
    public var bitsPerWeight: Double {
        switch granularity {
        case .perTensor, .perRow:
            return Double(element.bits)
        case .perBlock(let r, let c):
            return bitsPerWeight(rows: r, columns: c)
        case .perGroup(let n):
            return bitsPerWeight(rows: 1, columns: n)
        case .superBlock(let size, _, _):
            return bitsPerWeight(rows: 1, columns: size)
        }
    }

    public var description: String {
        var parts: [String] = []
        switch element {
        case .float8(let v): parts.append("fp8-\(v.rawValue)")
        case .integer(let bits): parts.append("int\(bits)")
        case .codebook(let c): parts.append(c.rawValue)
        }
        switch granularity {
        case .perTensor: parts.append("tensor")
        case .perRow: parts.append("row")
        case .perGroup(let n): parts.append("g\(n)")
        case .perBlock(let r, let c): parts.append("block\(r)x\(c)")
        case .superBlock(let size, let sub, let bits): parts.append("super\(size)/\(sub)x\(bits)b")
        }
        switch offset {
        case .symmetric: parts.append("sym")
        case .zeroPoint: parts.append("zp")
        case .minimum: parts.append("min")
        }
        parts.append("scale-\(scaleFormat.schemeName)")
        if searchesScale { parts.append("search") }
        return parts.joined(separator: "-")
    }
}

extension FloatFormat {
    /// Lower-case short name (`f32`, `bf16`, `e8m0`) as scheme descriptions and parsers spell it.
    var schemeName: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .f64: "f64"
        case .f8e4m3: "e4m3"
        case .f8e5m2: "e5m2"
        case .f8e8m0: "e8m0"
        }
    }
}
