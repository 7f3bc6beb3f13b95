import LowbitFormats
import Testing
@testable import LowbitModels

/// The Q/K row permutation against the example computed with the numpy form llama.cpp's
/// converter documents:
/// `w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(w.shape)`.
/// Entry k of each list is the Hugging Face row that becomes GGUF row k.
@Suite struct RotaryPermutationTests {
    static let numpyExamples: [(rows: Int, heads: Int, hfRowOfGGUFRow: [Int])] = [
        (8, 1, [0, 4, 1, 5, 2, 6, 3, 7]),
        (12, 2, [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]),
        (16, 2, [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]),
    ]

    @Test(arguments: 0..<3)
    func matchesNumpyExample(_ index: Int) throws {
        let example = Self.numpyExamples[index]
        let p = try RotaryPermutation(rows: example.rows, heads: example.heads)
        #expect((0..<example.rows).map { p.hfRow(forGGUFRow: $0) } == example.hfRowOfGGUFRow)
    }

    @Test(arguments: [(64, 4), (32, 2), (576, 9), (192, 3), (128, 1)])
    func roundTrips(_ rows: Int, _ heads: Int) throws {
        let p = try RotaryPermutation(rows: rows, heads: heads)
        for r in 0..<rows {
            #expect(p.ggufRow(forHFRow: p.hfRow(forGGUFRow: r)) == r)
            #expect(p.hfRow(forGGUFRow: p.ggufRow(forHFRow: r)) == r)
        }
        // A permutation: every row is hit once, and rows stay within their head.
        #expect(Set((0..<rows).map(p.hfRow(forGGUFRow:))).count == rows)
        #expect((0..<rows).allSatisfy { p.hfRow(forGGUFRow: $0) / p.headDimension == $0 / p.headDimension })
    }

    @Test func rejectsShapesThatAreNotWholeEvenHeads() {
        #expect(throws: FormatError.self) { try RotaryPermutation(rows: 10, heads: 3) }
        #expect(throws: FormatError.self) { try RotaryPermutation(rows: 6, heads: 2) }  // odd head size
        #expect(throws: FormatError.self) { try RotaryPermutation(rows: 8, heads: 0) }
    }
}
