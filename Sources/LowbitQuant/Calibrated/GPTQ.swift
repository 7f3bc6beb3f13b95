import Foundation
import LowbitFormats
import LowbitSystem

/// GPTQ (Frantar et al., 2022) as llm-compressor's `quantize_weight` runs it: quantizes a weight
/// matrix column by column and spreads each column's rounding error over the columns not yet
/// quantized, weighted by the inverse Hessian of the layer's inputs, so that the layer's output
/// `W·x` on the calibration inputs moves as little as possible.
///
/// The steps, all in `Double`:
/// 1. dead columns (`H[i][i] == 0`, an input that was always zero) get `H[i][i] = 1` and a zero
///    weight column;
/// 2. dampening: `dampening × mean(diag H)` is added to the diagonal (llm-compressor's 1%);
/// 3. `U`, the upper Cholesky factor of `H⁻¹` (``InverseHessianFactor``); if `H` is not
///    positive definite, GPTQ falls back to round to nearest (`U = I`) as llm-compressor does,
///    and ``Output/roundedToNearest`` says so;
/// 4. for each column `k` in solve order: `q = quantize(w_k)`, `e = (w_k - q) / U[k][k]`,
///    `w_j -= e · U[k][j]` for the later columns `j` of the current block of ``blockSize``
///    columns; the block's errors reach the columns after it in one matrix product (the "lazy
///    batch" update), which is the same arithmetic regrouped.
///
/// **Activation ordering** (``ActivationOrder/weight``, llm-compressor's "static", which
/// compressed-tensors calls "weight"): columns are solved in descending order of `diag(H)`
/// (ties in index order), but every column keeps the group it has in the original order, so
/// groups stay contiguous in the file and no `g_idx` is written.
///
/// **Group parameters** (``ScaleTiming``): by default (``ScaleTiming/original``, llm-compressor)
/// every group's scale and zero point are computed once, before the loop, from the original
/// weights, with the quantizer's own closed form (or its ``ScaleSearch``). The original GPTQ and
/// AutoGPTQ instead fix them when the loop reaches a group's first column, from the weights as
/// updated by then (``ScaleTiming/groupStart``; not with activation ordering, where AutoGPTQ too
/// uses the original weights). Parameters are computed in `Float` as ``IntGroupQuantizer``
/// computes them, and values are encoded with the stored (rounded) scale, so the output is
/// exactly what the quantizer's layouts store: ``IntGroupQuantizer/Result`` for both
/// compressed-tensors pack-quantized and MLX affine.
///
/// Rows are independent given `U`: they are solved in strips of ``stripRows`` on ``threads``
/// threads. Memory: the Hessian (overwritten by `U`), the weights, the output, and one strip of
/// `Double` rows per thread.
public struct GPTQ: Sendable {
    /// The column order of the solve.
    public enum ActivationOrder: String, Hashable, Sendable, CaseIterable {
        /// The stored order.
        case none
        /// Descending `diag(H)`, groups kept in the stored order (llm-compressor's "static",
        /// compressed-tensors' "weight").
        case weight
    }

    /// When each group's scale (and zero point or bias) is fixed.
    public enum ScaleTiming: String, Hashable, Sendable, CaseIterable {
        /// Once, from the original weights, before the loop (llm-compressor).
        case original
        /// When the loop reaches the group's first column, from the updated weights (the
        /// original GPTQ, AutoGPTQ). Needs ``ActivationOrder/none`` and a group size that
        /// divides ``GPTQ/blockSize`` (or per-channel groups, which are fixed at the start).
        case groupStart = "group-start"
    }

    /// The grid: bits, group size (the row length for per-channel), convention, scale format,
    /// and an optional ``ScaleSearch`` for the group parameters. Its `arithmetic` and `threads`
    /// are not used: parameters are computed in `Float`, codes in `Double`, on ``threads``.
    public var quantizer: IntGroupQuantizer
    /// The fraction of the mean Hessian diagonal added to the diagonal (llm-compressor: 0.01).
    public var dampening: Double
    /// Columns per lazy batch update (llm-compressor: 128).
    public var blockSize: Int
    /// The column order of the solve.
    public var activationOrder: ActivationOrder
    /// When group parameters are fixed.
    public var scaleTiming: ScaleTiming
    /// Rows solved together in one strip (one matrix product per block).
    public var stripRows: Int
    /// Threads for the row strips and the Hessian permutation.
    public var threads: Int

    /// A GPTQ solver on `quantizer`'s grid, with llm-compressor's defaults.
    public init(quantizer: IntGroupQuantizer, dampening: Double = 0.01, blockSize: Int = 128,
                activationOrder: ActivationOrder = .weight, scaleTiming: ScaleTiming = .original,
                stripRows: Int = 64, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition(dampening >= 0 && dampening.isFinite, "dampening must be a finite fraction >= 0")
        precondition(blockSize > 0 && stripRows > 0, "block size and strip rows must be positive")
        precondition(scaleTiming == .original || activationOrder == .none,
                     "group-start scales need the stored column order")
        self.quantizer = quantizer
        self.dampening = dampening
        self.blockSize = blockSize
        self.activationOrder = activationOrder
        self.scaleTiming = scaleTiming
        self.stripRows = stripRows
        self.threads = max(1, threads)
    }

    /// What GPTQ produced for one matrix.
    public struct Output: Sendable, Equatable {
        /// Codes, scales and offsets, as ``IntGroupQuantizer/quantize(_:rowLength:importance:)`` returns them.
        public var result: IntGroupQuantizer.Result
        /// llm-compressor's loss: `Σ (w - q)² / U[k][k]² / 2` over all weights.
        public var loss: Double
        /// True when the dampened Hessian was not positive definite and the matrix was rounded
        /// to nearest instead.
        public var roundedToNearest: Bool
    }

    /// Quantizes `weights` (`rows × columns`, row-major, one output channel per row) with the
    /// Hessian `hessian` (`columns × columns`, row-major, `2·XᵀX` up to a positive factor, which
    /// does not change the result). The Hessian buffer is consumed: it holds `U` afterwards.
    ///
    /// - Throws: ``QuantError`` (`.badShape`, `.badSize`, `.nonFinite`) naming `name`.
    public func quantize(_ weights: UnsafeBufferPointer<Float>, columns: Int,
                         hessian: UnsafeMutableBufferPointer<Double>, name: String? = nil) throws -> Output {
        let groupSize = quantizer.groupSize
        guard columns > 0, columns % groupSize == 0 else {
            throw QuantError(.badShape, item: name, "group size \(groupSize) does not divide the row length \(columns)")
        }
        guard weights.count % columns == 0 else {
            throw QuantError(.badSize, item: name, "\(weights.count) weights are not whole rows of \(columns)")
        }
        guard hessian.count == columns * columns else {
            throw QuantError(.badSize, item: name, "the Hessian holds \(hessian.count) values, \(columns)x\(columns) expected")
        }
        guard weights.allSatisfy(\.isFinite) else {
            throw QuantError(.nonFinite, item: name, "the weights hold NaN or infinite values")
        }
        guard hessian.allSatisfy(\.isFinite) else {
            throw QuantError(.nonFinite, item: name, "the Hessian holds NaN or infinite values")
        }
        if scaleTiming == .groupStart && groupSize < columns {
            precondition(blockSize % groupSize == 0, "group-start scales need a group size that divides the block size")
        }
        let rows = weights.count / columns
        let plan = prepare(hessian, columns: columns)
        let groups = quantizer.groupsPerRow(rowLength: columns)
        let words = quantizer.wordsPerRow(rowLength: columns)
        var packed = [UInt32](repeating: 0, count: rows * words)
        var scales = [Float](repeating: 0, count: rows * groups)
        var offsets = [Float](repeating: 0, count: quantizer.hasOffsets ? rows * groups : 0)
        let losses = LockedValueBox([Double](repeating: 0, count: rows))
        packed.withUnsafeMutableBufferPointer { packed in
            scales.withUnsafeMutableBufferPointer { scales in
                offsets.withUnsafeMutableBufferPointer { offsets in
                    let job = GPTQStripJob(weights: weights.baseAddress!, factor: UnsafePointer(hessian.baseAddress!),
                                           order: plan.order, dead: plan.dead, columns: columns,
                                           packed: packed.baseAddress!, scales: scales.baseAddress!,
                                           offsets: quantizer.hasOffsets ? offsets.baseAddress : nil,
                                           words: words, groups: groups)
                    Parallel.forChunks(rows, minimumPerChunk: 1, threads: threads) { chunk in
                        var start = chunk.lowerBound
                        while start < chunk.upperBound {
                            let strip = start..<min(start + stripRows, chunk.upperBound)
                            let loss = solve(strip, job)
                            losses.withLockedValue { $0.replaceSubrange(strip, with: loss) }
                            start = strip.upperBound
                        }
                    }
                }
            }
        }
        return Output(result: IntGroupQuantizer.Result(packed: packed, scales: scales,
                                                       offsets: quantizer.hasOffsets ? offsets : nil),
                      loss: losses.withLockedValue { $0.reduce(0, +) }, roundedToNearest: !plan.factored)
    }

    /// Array convenience: quantizes `weights` with a copy of `hessian`.
    public func quantize(_ weights: [Float], columns: Int, hessian: [Double], name: String? = nil) throws -> Output {
        var hessian = hessian
        return try weights.withUnsafeBufferPointer { w in
            try hessian.withUnsafeMutableBufferPointer { h in try quantize(w, columns: columns, hessian: h, name: name) }
        }
    }
}
