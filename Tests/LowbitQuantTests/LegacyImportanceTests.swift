import Foundation
import LowbitFormats
import Testing
@testable import LowbitQuant

/// The legacy block types against llama.cpp's `ggml_quantize_chunk`, with and without an
/// importance vector (fixtures/kquants/<type>.quant and <type>.imatrix.quant, made by
/// make_kquant_fixtures.py from the same rows as the K-quant fixtures: normal, heavy-tailed,
/// all-zero, sparse, tiny, huge, single outliers and real SmolLM2 rows).
@Suite("Legacy blocks with importance (llama.cpp ggml_quantize_chunk)")
struct LegacyImportanceTests {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1]

    @Test("without importance the bytes are ggml's reference quantizer's", arguments: types)
    func plainMatchesGGML(type: GGMLType) throws {
        let m = try KQuantFixtures.manifest()
        let input = try KQuantFixtures.floats("input.f32")
        let want = try KQuantFixtures.bytes("\(type.name).quant")
        let got = try TensorEncoder.quantize(input, rowLength: m.cols, as: type, name: type.name)
        let bad = mismatchedRows(got, want, rowBytes: want.count / m.rows, cases: m.cases)
        #expect(got.count == want.count)
        #expect(bad.isEmpty, "\(type.name): \(bad.count)/\(m.rows) rows differ: \(bad)")
    }

    @Test("with importance the bytes are ggml's weighted quantizer's", arguments: types)
    func weightedMatchesGGML(type: GGMLType) throws {
        let m = try KQuantFixtures.manifest()
        let input = try KQuantFixtures.floats("input.f32")
        let importance = try KQuantFixtures.floats("importance.f32")
        let want = try KQuantFixtures.bytes("\(type.name).imatrix.quant")
        let codec = try #require(GGUFCodecs.codec(for: type))
        let rowByRow = quantizeRows(codec, input, cols: m.cols, importance: importance)
        let bad = mismatchedRows(rowByRow, want, rowBytes: want.count / m.rows, cases: m.cases)
        #expect(bad.isEmpty, "\(type.name): \(bad.count)/\(m.rows) rows differ: \(bad)")
        // The tensor API, on several threads, gives the same bytes.
        let tensor = try TensorEncoder.quantize(input, rowLength: m.cols, as: type, importance: importance)
        #expect(tensor == want)
        // Importance changes the result (the test would not see a codec that ignores it).
        let plain = try KQuantFixtures.bytes("\(type.name).quant")
        #expect(plain != want)
    }

    @Test("uniform importance still searches: it differs from round to nearest", arguments: types)
    func uniformImportanceIsNotPlain(type: GGMLType) throws {
        let m = try KQuantFixtures.manifest()
        let input = try KQuantFixtures.floats("input.f32")
        let ones = [Float](repeating: 1, count: m.cols)
        let weighted = try TensorEncoder.quantize(input, rowLength: m.cols, as: type, importance: ones)
        let plain = try TensorEncoder.quantize(input, rowLength: m.cols, as: type)
        #expect(weighted != plain)
        // Dequantizing the weighted blocks gives finite values close to the input.
        let codec = try #require(GGUFCodecs.codec(for: type))
        let back = dequantizeAll(codec, weighted, count: input.count)
        #expect(back.allSatisfy { $0.isFinite })
    }
}
