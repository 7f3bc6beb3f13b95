import CLowbitKernels
import LowbitSystem

/// How a ``PackedMatrix`` holds its weights.
package enum MatrixLayout: Sendable {
    /// Panels for Lowbit's kernels (`Sources/CLowbitKernels`).
    case panels
    /// Plain rows of `Float`, multiplied by OpenBLAS sgemm: the `float32` layout on CPUs
    /// without AVX-512, where OpenBLAS's kernels beat Lowbit's portable C.
    case rows

    /// The faster layout for `precision` on this CPU.
    package static func preferred(for precision: MatrixPrecision) -> MatrixLayout {
        preferred(for: precision, cpuHasAVX512: lowbit_has_avx512() != 0)
    }

    static func preferred(for precision: MatrixPrecision, cpuHasAVX512: Bool) -> MatrixLayout {
        precision == .float32 && !cpuHasAVX512 ? .rows : .panels
    }
}

/// Which code computes the panels: the fastest this CPU has, or the portable C (tests check
/// that both give the same products).
enum MatrixKernels: Sendable {
    case fastest, portable

    var choice: lowbit_kernels { self == .fastest ? LOWBIT_KERNELS_FASTEST : LOWBIT_KERNELS_PORTABLE }
}

/// A weight matrix (`rows` output features × `columns` inputs) packed for the evaluator's matrix
/// products in one ``MatrixPrecision``. It owns its 64-byte-aligned memory.
///
/// ```swift
/// let w = PackedMatrix(precision: .bfloat16, rows: n, columns: k)
/// w.pack(weights, rows: n, at: 0)                      // n rows of k floats
/// let a = buffer.pack(x, rows: m, columns: k, lda: k, for: w, threads: 2)
/// w.multiply(a, into: y, ldOut: n, threads: 2)          // y[m × n] = x · wᵀ
/// ```
package final class PackedMatrix: @unchecked Sendable {
    package let precision: MatrixPrecision
    package let layout: MatrixLayout
    /// Output features (rows of the weight matrix as stored).
    package let rows: Int
    /// Inputs (the length of each stored row).
    package let columns: Int
    /// Bytes of packed memory held.
    package let byteCount: Int
    let kernels: MatrixKernels
    private let storage: UnsafeMutableRawPointer

    /// An all-zero packed matrix of `rows` × `columns`.
    package convenience init(precision: MatrixPrecision, rows: Int, columns: Int, layout: MatrixLayout? = nil) {
        self.init(precision: precision, rows: rows, columns: columns, layout: layout, kernels: .fastest)
    }

    init(precision: MatrixPrecision, rows: Int, columns: Int, layout: MatrixLayout?, kernels: MatrixKernels) {
        precondition(rows > 0 && columns > 0, "a packed matrix needs rows and columns")
        let layout = layout ?? .preferred(for: precision)
        precondition(layout == .panels || precision == .float32, "plain rows are float32")
        self.precision = precision
        self.layout = layout
        self.rows = rows
        self.columns = columns
        self.kernels = kernels
        byteCount = Self.bytes(precision: precision, layout: layout, rows: rows, columns: columns)
        storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    }

    deinit { storage.deallocate() }

    /// Bytes a matrix of `rows` × `columns` takes in `precision` and `layout` (default: preferred).
    package static func bytes(precision: MatrixPrecision, layout: MatrixLayout? = nil, rows: Int, columns: Int) -> Int {
        switch layout ?? .preferred(for: precision) {
        case .panels: lowbit_packed_weights_bytes(precision.packKind, Int64(rows), Int64(columns))
        case .rows: rows * columns * MemoryLayout<Float>.stride
        }
    }

    /// Packs `count` rows of `columns` floats (`source`, rows `stride` apart) as rows
    /// `firstRow ..< firstRow + count`.
    package func pack(_ source: UnsafePointer<Float>, rows count: Int, stride: Int? = nil, at firstRow: Int) {
        precondition(firstRow >= 0 && count >= 0 && firstRow + count <= rows, "rows outside the packed matrix")
        let stride = stride ?? columns
        switch layout {
        case .panels:
            lowbit_pack_weights(precision.packKind, kernels.choice, source, Int64(stride), Int64(firstRow), Int64(count),
                                Int64(columns), storage)
        case .rows:
            let destination = storage.assumingMemoryBound(to: Float.self) + firstRow * columns
            for r in 0..<count {
                (destination + r * columns).update(from: source + r * stride, count: columns)
            }
        }
    }

    /// Panels of ``LOWBIT_PANEL_COLUMNS`` rows: the unit of work split over threads.
    package var panelCount: Int { (rows + Int(LOWBIT_PANEL_COLUMNS) - 1) / Int(LOWBIT_PANEL_COLUMNS) }

    /// `out[m × rows] (+)= a · selfᵀ` for activations `a` (m × columns) packed for this matrix,
    /// `out` rows `ldOut` floats apart; with `accumulate` the product is added to what `out`
    /// holds. Output columns are split over `threads`.
    package func multiply(_ a: PackedActivations, into out: UnsafeMutablePointer<Float>, ldOut: Int,
                         accumulate: Bool = false, threads: Int) {
        precondition(a.columns == columns && a.precision == precision && a.layout == layout && ldOut >= rows,
                     "bad product dimensions")
        let kernels = kernels.choice
        guard a.rows > 0 else { return }
        switch layout {
        case .panels:
            let kind = precision.packKind
            let (m, n, k) = (Int64(a.rows), Int64(rows), Int64(columns))
            let activations = UnsafeTransfer(a.storage.assumingMemoryBound(to: UInt8.self))
            let weights = UnsafeTransfer(storage.assumingMemoryBound(to: UInt8.self))
            let result = UnsafeTransfer(out)
            Parallel.forRanges(panelCount, threads: threads) { panels in
                lowbit_gemm_packed(kind, kernels, m, n, k, activations.wrappedValue, weights.wrappedValue,
                                   Int64(panels.lowerBound), Int64(panels.upperBound), result.wrappedValue, Int64(ldOut),
                                   accumulate ? 1 : 0)
            }
        case .rows:
            BLAS.gemmTransposedB(m: a.rows, n: rows, k: columns, a: a.storage.assumingMemoryBound(to: Float.self),
                                 lda: a.leadingDimension, b: storage.assumingMemoryBound(to: Float.self), ldb: columns,
                                 beta: accumulate ? 1 : 0, c: out, ldc: ldOut, threads: threads)
        }
    }
}

/// Activations (m rows × `columns`) ready for products with ``PackedMatrix``es of the same
/// precision and layout; valid until their ``ActivationBuffer`` packs again (for the `rows`
/// layout: while the input they were made from is unchanged).
package struct PackedActivations {
    let storage: UnsafeMutableRawPointer
    /// Floats between rows (the `rows` layout, which uses the input in place).
    let leadingDimension: Int
    package let rows: Int
    package let columns: Int
    package let precision: MatrixPrecision
    package let layout: MatrixLayout
}

/// Reusable 64-byte-aligned scratch for packed activations; grows to the largest request.
package final class ActivationBuffer: @unchecked Sendable {
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0

    package init() {}

    deinit { storage?.deallocate() }

    /// Packs `input` (m rows of k floats, `lda` apart) for products with `matrix`, splitting the
    /// row blocks over `threads`. The result replaces what the buffer held.
    package func pack(_ input: UnsafePointer<Float>, rows m: Int, columns k: Int, lda: Int, for matrix: PackedMatrix,
                     threads: Int) -> PackedActivations {
        pack(input, rows: m, columns: k, lda: lda, precision: matrix.precision, layout: matrix.layout,
             kernels: matrix.kernels, threads: threads)
    }

    /// Packs `input` (m rows of k floats, `lda` apart) in `precision` and `layout` (default: the
    /// preferred one), splitting the row blocks over `threads`.
    package func pack(_ input: UnsafePointer<Float>, rows m: Int, columns k: Int, lda: Int, precision: MatrixPrecision,
                     layout: MatrixLayout? = nil, threads: Int) -> PackedActivations {
        pack(input, rows: m, columns: k, lda: lda, precision: precision, layout: layout, kernels: .fastest,
             threads: threads)
    }

    func pack(_ input: UnsafePointer<Float>, rows m: Int, columns k: Int, lda: Int, precision: MatrixPrecision,
              layout: MatrixLayout?, kernels: MatrixKernels, threads: Int) -> PackedActivations {
        precondition(m >= 0 && k > 0 && lda >= k, "bad activation dimensions")
        let layout = layout ?? .preferred(for: precision)
        if layout == .rows {
            return PackedActivations(storage: UnsafeMutableRawPointer(mutating: input), leadingDimension: lda,
                                     rows: m, columns: k, precision: precision, layout: layout)
        }
        let kind = precision.packKind
        let bytes = lowbit_packed_activations_bytes(kind, Int64(m), Int64(k))
        if storage == nil || capacity < bytes {
            storage?.deallocate()
            capacity = max(bytes, 64)
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        let packed = UnsafeTransfer(storage!.assumingMemoryBound(to: UInt8.self))
        let source = UnsafeTransfer(UnsafeMutablePointer(mutating: input))
        let blocks = (m + Int(LOWBIT_BLOCK_ROWS) - 1) / Int(LOWBIT_BLOCK_ROWS)
        Parallel.forRanges(blocks, threads: threads, minimumPerPart: 4) { range in
            lowbit_pack_activations(kind, kernels.choice, source.wrappedValue, Int64(lda), Int64(m), Int64(k),
                                    Int64(range.lowerBound), Int64(range.upperBound), packed.wrappedValue)
        }
        return PackedActivations(storage: storage!, leadingDimension: k, rows: m, columns: k, precision: precision,
                                 layout: layout)
    }
}
