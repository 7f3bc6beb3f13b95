import Foundation
import Testing
import LowbitFormats
@testable import LowbitQuant
import LowbitTestSupport

private func randomRows(_ count: Int, seed: UInt64) -> [Float] {
    var generator = LCG64(seed: seed)
    return (0..<count).map { _ in (generator.nextUnitFloat() - 0.5) * 0.1 }
}

@Suite struct LegacyTensorAPITests {
    @Test func decodesGGUFBlockTensorsAndRowRanges() throws {
        let fixture = try LegacyFixture()
        let bytes = try LegacyFixture.bytes("legacy_Q5_1.bin")
        let expected = try LegacyFixture.floats("legacy_Q5_1.dequant.f32")
        let info = TensorInfo(name: "w", type: .ggml(.q5_1), shape: [fixture.cols, fixture.rows],
                              offset: 0, byteCount: bytes.count, file: "memory.gguf")
        let source = MemorySource(tensors: [info], data: bytes)
        #expect(TensorDecoder.canDecode(info.type))
        let all = try TensorDecoder.decode(info, from: source)
        #expect(all.map(\.bitPattern) == expected.map(\.bitPattern))
        let some = try TensorDecoder.decode(info, from: source, rows: 5..<9)
        #expect(some.map(\.bitPattern) == expected[(5 * fixture.cols)..<(9 * fixture.cols)].map(\.bitPattern))
        #expect(try TensorDecoder.decode(info, from: source, rows: 3..<3).isEmpty)
    }

    @Test func decodesSafetensorsFloatTensors() throws {
        let values: [Float] = [1, -2.5, 0.15625, 3e-3, 65504, -0.0]
        let bf16 = FloatFormat.bf16.encode(values)
        let f16 = FloatFormat.f16.encode(values)
        let a = TensorInfo(name: "a", type: .safetensors(.BF16), shape: [2, 3], offset: 1, byteCount: 12, file: "m")
        let b = TensorInfo(name: "b", type: .safetensors(.F16), shape: [3, 2], offset: 13, byteCount: 12, file: "m")
        let source = MemorySource(format: .safetensors, tensors: [a, b], data: [0] + bf16 + f16)
        #expect(try TensorDecoder.decode(a, from: source, rows: 1..<2).map(\.bitPattern) == values[3...].map { BFloat16Bits.toFloat(BFloat16Bits.fromFloat($0)).bitPattern })
        #expect(try TensorDecoder.decode(b, from: source).map(\.bitPattern) == values.map { Float(Float16($0)).bitPattern })
    }

    @Test func decoderRefusesWhatItCannotDo() throws {
        let lattice = TensorInfo(name: "odd", type: .ggml(.iq2_xxs), shape: [256, 1], offset: 0, byteCount: 66, file: "m")
        let source = MemorySource(tensors: [lattice], data: [UInt8](repeating: 0, count: 66))
        #expect(!TensorDecoder.canDecode(lattice.type))
        #expect(throws: QuantError.self) { try TensorDecoder.decode(lattice, from: source) }
        do {
            _ = try TensorDecoder.decode(lattice, from: source)
        } catch let error as QuantError {
            #expect(error.kind == .unsupportedType && error.item == "odd" && error.file == "m")
        }
        let q8 = TensorInfo(name: "q", type: .ggml(.q8_0), shape: [32, 2], offset: 0, byteCount: 68, file: "m")
        let short = MemorySource(tensors: [q8], data: [UInt8](repeating: 0, count: 68))
        #expect(throws: QuantError(.badSize, file: "m", item: "q", "rows 1..<3 lie outside the 2 rows of the tensor")) {
            try TensorDecoder.decode(q8, from: short, rows: 1..<3)
        }
        var lying = q8
        lying.byteCount = 34
        #expect(throws: QuantError.self) { try TensorDecoder.decode(lying, from: MemorySource(tensors: [lying], data: [UInt8](repeating: 0, count: 34))) }
        var small = [Float](repeating: 0, count: 10)
        #expect(throws: QuantError.self) {
            try small.withUnsafeMutableBufferPointer { try TensorDecoder.decode(q8, from: short, rows: 0..<1, into: $0) }
        }
    }

    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .f16, .bf16, .f32])
    func encoderMatchesTheCodecRowByRowAndRoundTrips(type: GGMLType) throws {
        // 1024 rows of 256: enough for the parallel path; results must equal one sequential pass.
        let rowLength = 256, rowCount = 1024
        let x = randomRows(rowLength * rowCount, seed: 7)
        let parallel = try TensorEncoder.quantize(x, rowLength: rowLength, as: type)
        let codec = try #require(GGUFCodecs.codec(for: type))
        var sequential = [UInt8](repeating: 0, count: parallel.count)
        x.withUnsafeBufferPointer { s in
            sequential.withUnsafeMutableBytes { codec.quantize(s.baseAddress!, into: $0.baseAddress!, count: x.count, importance: nil) }
        }
        #expect(parallel == sequential)
        var y = [Float](repeating: 0, count: x.count)
        try parallel.withUnsafeBytes { b in
            try y.withUnsafeMutableBufferPointer { try TensorDecoder.decode(b, as: .ggml(type), into: $0) }
        }
        let metrics = ErrorMetrics.measure(original: x, reconstructed: y)
        let minimumSNR: Double = switch type {
        case .f32: .infinity
        case .f16: 60
        case .bf16, .q8_0: 40
        case .q5_0, .q5_1: 25
        default: 18
        }
        #expect(metrics.snrDB >= minimumSNR, "\(type.name): \(metrics)")
        #expect(metrics.cosine > 0.99)
    }

    @Test func encoderRefusesBadShapes() throws {
        let x = [Float](repeating: 1, count: 96)
        #expect(throws: QuantError.self) { try TensorEncoder.quantize(x, rowLength: 48, as: .q4_0) }
        #expect(throws: QuantError.self) { try TensorEncoder.quantize(x, rowLength: 64, as: .q8_0) }
        #expect(throws: QuantError.self) { try TensorEncoder.quantize(x, rowLength: 96, as: .iq2_xxs) }
        #expect(throws: QuantError.self) { try TensorEncoder.quantize(x, rowLength: 96, as: .q8_0, importance: [1, 2]) }
        var out = [UInt8](repeating: 0, count: 10)
        #expect(throws: QuantError.self) {
            try x.withUnsafeBufferPointer { s in
                try out.withUnsafeMutableBytes { try TensorEncoder.quantize(rows: s, rowLength: 96, as: .q8_0, into: $0) }
            }
        }
        #expect(try TensorEncoder.quantize(x, rowLength: 96, as: .q8_0, importance: [Float](repeating: 1, count: 96)).count == 102)
    }

    @Test func errorMetricsKnownValuesAndMerging() {
        let o: [Float] = [1, 2, 3, 4]
        let r: [Float] = [1, 2, 3, 5]
        let m = ErrorMetrics.measure(original: o, reconstructed: r)
        #expect(m.count == 4)
        #expect(m.mse == 0.25)
        #expect(m.maxAbsError == 1)
        #expect(abs(m.snrDB - 10 * log10(30.0)) < 1e-12)
        #expect(abs(m.cosine - 34 / (30.0 * 39).squareRoot()) < 1e-12)
        let exact = ErrorMetrics.measure(original: o, reconstructed: o)
        #expect(exact.snrDB == .infinity && exact.mse == 0 && exact.cosine == 1)
        let zeros = ErrorMetrics.measure(original: [0, 0], reconstructed: [0, 0])
        #expect(zeros.cosine == 1 && zeros.snrDB.isNaN)

        // Strips merged equal one pass (up to the Double sum order).
        let x = randomRows(1001, seed: 3), y = x.map { $0 + 0.001 * sin($0 * 1000) }
        let whole = ErrorMetrics.measure(original: x, reconstructed: y)
        var a = ErrorMetrics.Accumulator(), b = ErrorMetrics.Accumulator()
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeBufferPointer { ys in
                a.add(original: UnsafeBufferPointer(rebasing: xs[0..<333]), reconstructed: UnsafeBufferPointer(rebasing: ys[0..<333]))
                b.add(original: UnsafeBufferPointer(rebasing: xs[333...]), reconstructed: UnsafeBufferPointer(rebasing: ys[333...]))
            }
        }
        a.merge(b)
        let merged = a.metrics
        #expect(merged.count == whole.count && merged.maxAbsError == whole.maxAbsError)
        #expect(abs(merged.mse - whole.mse) <= 1e-12 * whole.mse)
        #expect(abs(merged.cosine - whole.cosine) < 1e-12)
        let nan = ErrorMetrics.measure(original: [1, .nan], reconstructed: [1, 1])
        #expect(nan.maxAbsError.isNaN && nan.mse.isNaN)
    }
}
