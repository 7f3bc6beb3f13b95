import Foundation
import LowbitTestSupport
@testable import LowbitQuant
import Testing

/// INT group quantization with an importance vector against the float64 numpy reference in
/// fixtures/weighted/make_weighted_fixtures.py (llama.cpp's weights and grids): the same codes,
/// scales and zero points or biases.
@Suite struct ImportanceSearchFixtureTests {
    struct Manifest: Decodable {
        struct Matrix: Decodable { let name: String; let rows: Int; let columns: Int }
        struct Case: Decodable { let name: String, matrix: String, bits: Int, group_size: Int, convention: String }
        let matrices: [Matrix]
        let cases: [Case]
    }

    static let manifest: Manifest = {
        let data = try! Data(contentsOf: Fixtures.url("weighted/manifest.json"))
        return try! JSONDecoder().decode(Manifest.self, from: data)
    }()

    static func load<T>(_ name: String, as _: T.Type) throws -> [T] {
        let bytes = try Fixtures.bytes("weighted/\(name)")
        precondition(bytes.count % MemoryLayout<T>.size == 0)
        return bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
    }

    static func quantizer(_ c: Manifest.Case, threads: Int) -> IntGroupQuantizer {
        let convention: IntGroupQuantizer.Convention = switch c.convention {
        case "ct-sym": .compressedTensors(symmetric: true)
        case "ct-asym": .compressedTensors(symmetric: false)
        default: .mlxAffine
        }
        return IntGroupQuantizer(bits: c.bits, groupSize: c.group_size, convention: convention, scaleFormat: .bf16,
                                 threads: threads)
    }

    static func codes(_ r: IntGroupQuantizer.Result, _ q: IntGroupQuantizer, rows: Int, columns: Int) -> [UInt8] {
        var codes = [UInt8](repeating: 0, count: rows * columns)
        let words = q.wordsPerRow(rowLength: columns)
        r.packed.withUnsafeBufferPointer { p in
            codes.withUnsafeMutableBufferPointer { out in
                for row in 0..<rows {
                    BitPacking.unpack(p.baseAddress! + row * words, count: columns, bits: q.bits,
                                      into: out.baseAddress! + row * columns)
                }
            }
        }
        return codes
    }

    @Test func casesCoverEveryConvention() {
        let cases = Self.manifest.cases
        #expect(Set(cases.map(\.convention)) == ["ct-sym", "ct-asym", "mlx"])
        #expect(Set(cases.map(\.bits)).isSuperset(of: [4, 8]))
    }

    @Test(arguments: manifest.cases.map(\.name))
    func matchesTheNumpyReference(_ name: String) throws {
        let c = Self.manifest.cases.first { $0.name == name }!
        let m = Self.manifest.matrices.first { $0.name == c.matrix }!
        let weights = try Self.load("\(c.matrix).weight.f32", as: Float.self)
        let importance = try Self.load("\(c.matrix).importance.f32", as: Float.self)
        let expectedCodes = try Self.load("\(name).codes.u8", as: UInt8.self)
        let expectedScales = try Self.load("\(name).scales.f32", as: Float.self)
        let expectedOffsets = c.convention == "ct-sym" ? nil : try Self.load("\(name).offsets.f32", as: Float.self)
        for threads in [1, 2] {
            let q = Self.quantizer(c, threads: threads)
            let result = q.quantize(weights, rowLength: m.columns, importance: importance)
            let codes = Self.codes(result, q, rows: m.rows, columns: m.columns)
            let mismatches = zip(codes, expectedCodes).filter { $0 != $1 }.count
            #expect(mismatches == 0, "\(name): \(mismatches) of \(codes.count) codes differ")
            #expect(result.scales == expectedScales)
            #expect(result.offsets == expectedOffsets)
            // The search is not round to nearest: some group differs from the closed form.
            let plain = q.quantize(weights, rowLength: m.columns)
            #expect(plain.scales != result.scales)
        }
    }

    /// The closed form is a candidate, so no group's weighted error is worse than round to
    /// nearest's, and the total is clearly lower at 4 bits.
    @Test(arguments: ["ct-sym", "ct-asym", "mlx"])
    func neverWorseThanRoundToNearestInTheWeightedError(_ convention: String) throws {
        let c = Manifest.Case(name: "", matrix: "", bits: 4, group_size: 32, convention: convention)
        let q = Self.quantizer(c, threads: 2)
        let columns = 256, rows = 48
        let x = ScaleSearchTests.heavyTailed(count: rows * columns, seed: 5)
        let importance: [Float] = (0..<columns).map { (j: Int) -> Float in
            let base = Float(1 + (j * 7919) % 97)
            return j % 5 == 0 ? 20 * base : base
        }
        let weighted = q.dequantize(q.quantize(x, rowLength: columns, importance: importance), rowLength: columns)
        let plain = q.dequantize(q.quantize(x, rowLength: columns), rowLength: columns)
        var total = (weighted: 0.0, plain: 0.0)
        for r in 0..<rows {
            let row = r * columns
            let sigma2 = (0..<columns).reduce(0.0) { $0 + Double(x[row + $1] * x[row + $1]) } / Double(columns)
            for g in 0..<(columns / 32) {
                var e = (weighted: 0.0, plain: 0.0)
                for j in (g * 32)..<(g * 32 + 32) {
                    let w = Double(importance[j]) * (sigma2 + Double(x[row + j] * x[row + j])).squareRoot()
                    e.weighted += w * pow(Double(x[row + j] - weighted[row + j]), 2)
                    e.plain += w * pow(Double(x[row + j] - plain[row + j]), 2)
                }
                #expect(e.weighted <= e.plain * (1 + 1e-5), "row \(r) group \(g)")
                total.weighted += e.weighted
                total.plain += e.plain
            }
        }
        #expect(total.weighted < 0.9 * total.plain, "\(convention): \(total.weighted) vs \(total.plain)")
    }
}
