import Testing
@testable import LowbitModels

/// ``RotaryPermutation/huggingFaceOrder(ofGGUF:rowLength:)`` undoes the GGUF row order that
/// ``RotaryPermutation/hfRow(forGGUFRow:)`` describes.
@Suite struct RotaryPermutationOrderTests {
    @Test(arguments: [(16, 2, 3), (12, 1, 1), (24, 3, 2)])
    func wholeMatrixBackToHuggingFaceOrder(_ rows: Int, _ heads: Int, _ rowLength: Int) throws {
        let p = try RotaryPermutation(rows: rows, heads: heads)
        let hf = (0..<(rows * rowLength)).map(Float.init)
        var gguf = hf
        for r in 0..<rows {
            let from = p.hfRow(forGGUFRow: r)
            for c in 0..<rowLength { gguf[r * rowLength + c] = hf[from * rowLength + c] }
        }
        #expect(p.huggingFaceOrder(ofGGUF: gguf, rowLength: rowLength) == hf)
    }
}
