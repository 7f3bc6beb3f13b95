import CLowbitKernels

/// A weight matrix (`rows` output features × `columns` inputs) packed for the evaluator's matrix
/// products in one ``MatrixPrecision``. It owns its 64-byte-aligned memory.
///
/// ```swift
/// let w = PackedMatrix(precision: .bfloat16, rows: n, columns: k)
/// w.pack(weights, rows: n, at: 0)                      // n rows of k floats
/// let a = buffer.pack(x, rows: m, columns: k, lda: k, precision: .bfloat16, threads: 2)
/// w.multiply(a, into: y, ldOut: n, threads: 2)          // y[m × n] = x · wᵀ
/// ```
public final class PackedMatrix: @unchecked Sendable {
    public let precision: MatrixPrecision
    /// Output features (rows of the weight matrix as stored).
    public let rows: Int
    /// Inputs (the length of each stored row).
    public let columns: Int
    /// Bytes of packed memory held.
    public let byteCount: Int
    private let storage: UnsafeMutableRawPointer

    /// An all-zero packed matrix of `rows` × `columns`.
    public init(precision: MatrixPrecision, rows: Int, columns: Int) {
        precondition(rows > 0 && columns > 0, "a packed matrix needs rows and columns")
        self.precision = precision
        self.rows = rows
        self.columns = columns
        byteCount = lowbit_packed_weights_bytes(precision.packKind, Int64(rows), Int64(columns))
        storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    }

    deinit { storage.deallocate() }

    /// Packs `count` rows of `columns` floats (`source`, rows `stride` apart) as rows
    /// `firstRow ..< firstRow + count`.
    public func pack(_ source: UnsafePointer<Float>, rows count: Int, stride: Int? = nil, at firstRow: Int) {
        precondition(firstRow >= 0 && count >= 0 && firstRow + count <= rows, "rows outside the packed matrix")
        lowbit_pack_weights(precision.packKind, source, Int64(stride ?? columns), Int64(firstRow), Int64(count),
                            Int64(columns), storage)
    }

    /// Panels of ``LOWBIT_PANEL_COLUMNS`` rows: the unit of work split over threads.
    public var panelCount: Int { (rows + Int(LOWBIT_PANEL_COLUMNS) - 1) / Int(LOWBIT_PANEL_COLUMNS) }

    /// `out[m × rows] (+)= a · selfᵀ` for packed activations `a` (m × columns), `out` rows
    /// `ldOut` floats apart; with `accumulate` the product is added to what `out` holds. Output
    /// panels are split over `threads`.
    public func multiply(_ a: PackedActivations, into out: UnsafeMutablePointer<Float>, ldOut: Int,
                  accumulate: Bool = false, threads: Int) {
        precondition(a.columns == columns && a.precision == precision && ldOut >= rows, "bad product dimensions")
        guard a.rows > 0 else { return }
        let kind = precision.packKind
        let (m, n, k) = (Int64(a.rows), Int64(rows), Int64(columns))
        let activations = SendablePointer(a.storage.assumingMemoryBound(to: UInt8.self))
        let weights = SendablePointer(storage.assumingMemoryBound(to: UInt8.self))
        let result = SendablePointer(out)
        Parallel.forRanges(panelCount, threads: threads) { panels in
            lowbit_gemm_packed(kind, m, n, k, activations.pointer, weights.pointer,
                               Int64(panels.lowerBound), Int64(panels.upperBound), result.pointer, Int64(ldOut),
                               accumulate ? 1 : 0)
        }
    }
}

/// Activations (m rows × `columns`) packed for products with ``PackedMatrix``es of the same
/// precision; valid until their ``ActivationBuffer`` packs again.
public struct PackedActivations {
    let storage: UnsafeMutableRawPointer
    public let rows: Int
    public let columns: Int
    public let precision: MatrixPrecision
}

/// Reusable 64-byte-aligned scratch for packed activations; grows to the largest request.
public final class ActivationBuffer: @unchecked Sendable {
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0

    public init() {}

    deinit { storage?.deallocate() }

    /// Packs `input` (m rows of k floats, `lda` apart) in `precision`, splitting the row blocks
    /// over `threads`. The result replaces what the buffer held.
    public func pack(_ input: UnsafePointer<Float>, rows m: Int, columns k: Int, lda: Int, precision: MatrixPrecision,
              threads: Int) -> PackedActivations {
        precondition(m >= 0 && k > 0 && lda >= k, "bad activation dimensions")
        let kind = precision.packKind
        let bytes = lowbit_packed_activations_bytes(kind, Int64(m), Int64(k))
        if storage == nil || capacity < bytes {
            storage?.deallocate()
            capacity = max(bytes, 64)
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        let packed = SendablePointer(storage!.assumingMemoryBound(to: UInt8.self))
        let source = SendablePointer(UnsafeMutablePointer(mutating: input))
        let blocks = (m + Int(LOWBIT_BLOCK_ROWS) - 1) / Int(LOWBIT_BLOCK_ROWS)
        Parallel.forRanges(blocks, threads: threads, minimumPerPart: 4) { range in
            lowbit_pack_activations(kind, source.pointer, Int64(lda), Int64(m), Int64(k),
                                    Int64(range.lowerBound), Int64(range.upperBound), packed.pointer)
        }
        return PackedActivations(storage: storage!, rows: m, columns: k, precision: precision)
    }
}
