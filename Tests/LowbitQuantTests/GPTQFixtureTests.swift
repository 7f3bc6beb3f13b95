import Foundation
import LowbitTestSupport
@testable import LowbitQuant
import Testing

/// GPTQ against the float64 numpy reference in fixtures/gptq/make_gptq_fixtures.py: the same
/// integers, scales and zero points from the same Hessian.
@Suite struct GPTQFixtureTests {
    struct Manifest: Decodable {
        struct Matrix: Decodable { let name: String; let rows: Int; let columns: Int }
        struct Case: Decodable {
            let name: String, matrix: String, bits: Int
            let group_size: Int, symmetric: Bool, act_order: Bool, scale_timing: String
        }
        let dampening: Double
        let block_size: Int
        let matrices: [Matrix]
        let cases: [Case]
    }

    static let manifest: Manifest = {
        let data = try! Data(contentsOf: Fixtures.url("gptq/manifest.json"))
        return try! JSONDecoder().decode(Manifest.self, from: data)
    }()

    static func load<T>(_ name: String, as _: T.Type) throws -> [T] {
        let bytes = try Fixtures.bytes("gptq/\(name)")
        precondition(bytes.count % MemoryLayout<T>.size == 0)
        return bytes.withUnsafeBytes { raw in (0..<(bytes.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
    }

    @Test func casesCoverTheRequiredGrid() {
        let cases = Self.manifest.cases
        #expect(cases.count >= 12)
        #expect(Set(cases.map(\.symmetric)) == [true, false])
        #expect(Set(cases.map(\.act_order)) == [true, false])
        #expect(Set(cases.map(\.bits)) == [4, 8])
        #expect(Set(cases.map(\.group_size)).isSuperset(of: [0, 32, 64, 128]))
        #expect(Set(cases.map(\.scale_timing)) == ["original", "group-start"])
    }

    @Test(arguments: manifest.cases.map(\.name))
    func matchesTheNumpyReference(_ name: String) throws {
        let c = Self.manifest.cases.first { $0.name == name }!
        let matrix = Self.manifest.matrices.first { $0.name == c.matrix }!
        let weights = try Self.load("\(c.matrix).weight.f32", as: Float.self)
        let hessian = try Self.load("\(c.matrix).hessian.f64", as: Double.self)
        let columns = matrix.columns
        let groupSize = c.group_size == 0 ? columns : c.group_size
        let expectedCodes = try Self.load("\(name).codes.u8", as: UInt8.self)
        let expectedScales = try Self.load("\(name).scales.f32", as: Float.self)
        let expectedZeros = c.symmetric ? nil : try Self.load("\(name).zeros.f32", as: Float.self)
        // Strips of 5 rows on 2 threads and one strip on 1 thread must agree with the reference.
        for (stripRows, threads) in [(5, 2), (64, 1)] {
            let quantizer = IntGroupQuantizer(bits: c.bits, groupSize: groupSize,
                                              convention: .compressedTensors(symmetric: c.symmetric), scaleFormat: .bf16)
            let gptq = GPTQ(quantizer: quantizer, dampening: Self.manifest.dampening, blockSize: Self.manifest.block_size,
                            activationOrder: c.act_order ? .weight : .none,
                            scaleTiming: GPTQ.ScaleTiming(rawValue: c.scale_timing)!,
                            stripRows: stripRows, threads: threads)
            let output = try gptq.quantize(weights, columns: columns, hessian: hessian, name: name)
            #expect(!output.roundedToNearest)
            var codes = [UInt8](repeating: 0, count: matrix.rows * columns)
            let words = quantizer.wordsPerRow(rowLength: columns)
            output.result.packed.withUnsafeBufferPointer { p in
                codes.withUnsafeMutableBufferPointer { out in
                    for r in 0..<matrix.rows {
                        BitPacking.unpack(p.baseAddress! + r * words, count: columns, bits: c.bits,
                                          into: out.baseAddress! + r * columns)
                    }
                }
            }
            let mismatches = zip(codes, expectedCodes).filter { $0 != $1 }.count
            #expect(mismatches == 0, "\(name): \(mismatches) of \(codes.count) codes differ")
            #expect(output.result.scales == expectedScales)
            #expect(output.result.offsets == expectedZeros)
        }
    }
}
