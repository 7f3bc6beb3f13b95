import Foundation
import LowbitTestSupport
@testable import LowbitQuant
import Testing

/// GPTQ's purpose, measured: on inputs with correlated columns it must move the layer's output
/// `W·xᵀ` less than round to nearest on the same grid; and its edge cases.
@Suite struct GPTQQualityTests {
    /// `tokens × columns` inputs whose columns are mixed (correlated) and of uneven size.
    static func correlatedInputs(tokens: Int, columns: Int, seed: UInt64) -> [Double] {
        var rng = LCG64(seed: seed)
        func normal() -> Double {
            let u = rng.nextOpenUnitDouble(), v = rng.nextOpenUnitDouble()
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let mixing = (0..<(columns * columns)).map { i in (i % (columns + 1) == 0 ? 1 : 0) + 0.3 * normal() }
        let size = (0..<columns).map { _ in exp(normal()) }
        let z = (0..<(tokens * columns)).map { _ in normal() }
        var x = [Double](repeating: 0, count: tokens * columns)
        for t in 0..<tokens {
            for j in 0..<columns {
                var s = 0.0
                for k in 0..<columns { s += z[t * columns + k] * mixing[k * columns + j] }
                x[t * columns + j] = s * size[j]
            }
        }
        return x
    }

    /// `2·XᵀX / tokens`.
    static func hessian(_ x: [Double], tokens: Int, columns: Int) -> [Double] {
        var h = [Double](repeating: 0, count: columns * columns)
        for t in 0..<tokens {
            for i in 0..<columns {
                let xi = x[t * columns + i]
                for j in 0..<columns { h[i * columns + j] += 2 * xi * x[t * columns + j] / Double(tokens) }
            }
        }
        return h
    }

    /// `‖(W − Ŵ)·Xᵀ‖` (Frobenius).
    static func outputError(_ w: [Float], _ q: [Float], _ x: [Double], rows: Int, columns: Int, tokens: Int) -> Double {
        var sum = 0.0
        for r in 0..<rows {
            for t in 0..<tokens {
                var s = 0.0
                for j in 0..<columns { s += Double(w[r * columns + j] - q[r * columns + j]) * x[t * columns + j] }
                sum += s * s
            }
        }
        return sum.squareRoot()
    }

    static let rows = 32, columns = 128, tokens = 512
    static let inputs = correlatedInputs(tokens: tokens, columns: columns, seed: 11)
    static let hessian = hessian(inputs, tokens: tokens, columns: columns)
    static let weights: [Float] = {
        var rng = LCG64(seed: 5)
        return (0..<(rows * columns)).map { _ in (rng.nextUnitFloat() - 0.5) * 0.04 }
    }()

    /// GPTQ's output error over round to nearest's, on INT4 g32 grids.
    static func ratio(_ convention: IntGroupQuantizer.Convention, _ order: GPTQ.ActivationOrder,
                      _ timing: GPTQ.ScaleTiming = .original) throws -> Double {
        let quantizer = IntGroupQuantizer(bits: 4, groupSize: 32, convention: convention)
        let rtn = quantizer.dequantize(quantizer.quantize(weights, rowLength: columns), rowLength: columns)
        let output = try GPTQ(quantizer: quantizer, activationOrder: order, scaleTiming: timing)
            .quantize(weights, columns: columns, hessian: hessian)
        let gptq = quantizer.dequantize(output.result, rowLength: columns)
        return outputError(weights, gptq, inputs, rows: rows, columns: columns, tokens: tokens)
            / outputError(weights, rtn, inputs, rows: rows, columns: columns, tokens: tokens)
    }

    // Measured ratios (GPTQ / RTN output error ‖(W − Ŵ)·Xᵀ‖) on this 32×128 matrix with 512
    // correlated input rows, INT4 g32: symmetric with activation ordering 0.509, asymmetric 0.521,
    // MLX affine 0.540, symmetric in stored order 0.658, group-start scales 0.629. Each bound sits
    // about 0.1 above its measurement (round to nearest itself scores 1).
    @Test func gptqBeatsRoundToNearestOnCorrelatedInputs() throws {
        #expect(try Self.ratio(.compressedTensors(symmetric: true), .weight) < 0.61)
        #expect(try Self.ratio(.compressedTensors(symmetric: false), .weight) < 0.62)
        #expect(try Self.ratio(.mlxAffine, .weight) < 0.64)
        #expect(try Self.ratio(.compressedTensors(symmetric: true), .none) < 0.76)
        #expect(try Self.ratio(.compressedTensors(symmetric: true), .none, .groupStart) < 0.73)
    }

    /// With `H = c·I` there is nothing to feed back: GPTQ is round to nearest, code for code.
    @Test func identityHessianIsRoundToNearest() throws {
        let n = Self.columns
        let h = (0..<(n * n)).map { $0 % (n + 1) == 0 ? 3.0 : 0 }
        for convention in [IntGroupQuantizer.Convention.compressedTensors(symmetric: true),
                           .compressedTensors(symmetric: false), .mlxAffine] {
            for bits in [4, 8] {
                let quantizer = IntGroupQuantizer(bits: bits, groupSize: 64, convention: convention)
                let output = try GPTQ(quantizer: quantizer, activationOrder: .none)
                    .quantize(Self.weights, columns: n, hessian: h)
                let rtn = quantizer.quantize(Self.weights, rowLength: n)
                let differing = zip(output.result.packed, rtn.packed).filter { $0 != $1 }.count
                #expect(differing == 0, "\(convention) \(bits) bits: \(differing) packed words differ")
                #expect(output.result.scales == rtn.scales && output.result.offsets == rtn.offsets)
            }
        }
    }

    /// A Hessian that is not positive definite falls back to round to nearest, as llm-compressor does.
    @Test func indefiniteHessianFallsBackToRoundToNearest() throws {
        let n = Self.columns
        let h = (0..<(n * n)).map { $0 % (n + 1) == 0 ? (($0 / n) == 7 ? -50.0 : 1.0) : 0 }
        let quantizer = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true))
        let output = try GPTQ(quantizer: quantizer, activationOrder: .none).quantize(Self.weights, columns: n, hessian: h)
        #expect(output.roundedToNearest)
        #expect(output.result == quantizer.quantize(Self.weights, rowLength: n))
    }

    @Test func badInputsAreRefusedWithTheTensorName() {
        let n = Self.columns
        let quantizer = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true))
        let gptq = GPTQ(quantizer: quantizer)
        var h = Self.hessian
        h[5] = .nan
        #expect { try gptq.quantize(Self.weights, columns: n, hessian: h, name: "blk.0.ffn_down") } throws: { error in
            guard let e = error as? QuantError else { return false }
            return e.kind == .nonFinite && e.item == "blk.0.ffn_down" && e.reason.contains("Hessian")
        }
        #expect(throws: QuantError.self) { try gptq.quantize(Self.weights, columns: n, hessian: Array(h.prefix(n))) }
        #expect(throws: QuantError.self) { try gptq.quantize(Array(Self.weights.prefix(100)), columns: 100, hessian: []) }
    }
}
