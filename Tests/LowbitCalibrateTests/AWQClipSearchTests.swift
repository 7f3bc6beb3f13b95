import Foundation
import LowbitCalibrate
import LowbitConvert
import LowbitFormats
import LowbitTestSupport
import Testing

/// AWQ's clip search against an independent numpy float64 reference (written below, run with
/// the system's python3): the same sampled tokens, shrink ratios, per-group output errors and
/// chosen clamps; and the converter's ``WeightTransform`` applies and checks the clamps.
@Suite struct AWQClipSearchTests {
    static let (tokens, width, rows) = (40, 64, 24)

    static let numpy = """
        import json, os, sys
        import numpy as np
        d = sys.argv[1]
        n, k, o, g = 40, 64, 24, 16
        def ld(name, r):
            return np.fromfile(os.path.join(d, name + ".f32"), dtype="<f4").astype(np.float64).reshape(r, -1)
        X = ld("x", n)[::3]          # at most 16 of the 40 tokens: every ceil(40/16) = 3rd
        W = ld("w", o)
        def fq(M):
            G = M.reshape(-1, g)
            sc = np.abs(G).max(1, keepdims=True) / 7
            safe = np.where(sc > 0, sc, 1)
            return np.where(sc > 0, np.clip(np.rint(G / safe), -8, 7) * sc, 0).reshape(M.shape)
        Wg = W.reshape(o, k // g, g)
        Xg = X.reshape(X.shape[0], k // g, g)
        init = np.abs(Wg).max(-1, keepdims=True)
        losses = []
        for i in range(int(0.5 * 20)):
            p = 1 - i / 20
            m = p * init
            Q = fq(np.clip(Wg, -m, m).reshape(o, k)).reshape(o, k // g, g)
            D = np.einsum("tgc,rgc->trg", Xg, Q - Wg)
            losses.append((D ** 2).mean(0))
        L = np.stack(losses)                       # [ratio, row, group]
        best = L.argmin(0)                         # the first least loss
        srt = np.sort(L, 0)
        gap = (srt[1] - srt[0]) / np.maximum(srt[0], 1e-30)
        ratios = 1 - best / 20
        print(json.dumps({"ratios": ratios.reshape(-1).tolist(), "maxima": (ratios[..., None] * init[..., 0][..., None]).reshape(-1).tolist(),
                          "gap": gap.reshape(-1).tolist()}))
        """

    @Test func searchMatchesNumpyFloat64() throws {
        var rng = LCG64(seed: 23)
        let (n, k, o) = (Self.tokens, Self.width, Self.rows)
        var x = AWQScaleSearchTests.random(n * k, &rng)
        for i in x.indices where (i % k) % 5 == 0 { x[i] *= 6 }
        var w = AWQScaleSearchTests.random(o * k, &rng, scale: 0.2)
        // Heavy-tailed weights: a few large values per group, which clipping trades off.
        for i in w.indices where i % 13 == 0 { w[i] *= 5 }

        let reference = try AWQScaleSearchTests.runNumpy(Self.numpy, tag: "awq-clip", arrays: [("x", x), ("w", w)])
        let ratios = try #require(reference["ratios"].flatMap(AWQScaleSearchTests.doubles))
        let maxima = try #require(reference["maxima"].flatMap(AWQScaleSearchTests.doubles))
        let gaps = try #require(reference["gap"].flatMap(AWQScaleSearchTests.doubles))

        let search = AWQClipSearch(gridSize: 20, maxShrink: 0.5, sampleTokens: 16)
        #expect(search.ratios.count == 10 && search.ratios.first == 1 && abs(search.ratios.last! - 0.55) < 1e-6)
        let clip = try search.search(tensor: "w", weights: w, inputs: x, width: k,
                                     quantizer: AWQScaleSearchTests.RoundToNearest(), threads: 2)
        #expect(clip.groupSize == 16 && clip.maxima.count == o * 4 && ratios.count == o * 4)
        var compared = 0
        for i in ratios.indices where gaps[i] > 1e-4 {  // a near-tie may fall either way in Float
            compared += 1
            #expect(abs(Double(clip.ratios[i]) - ratios[i]) < 1e-6, "group \(i): ratio \(clip.ratios[i]), numpy \(ratios[i])")
            #expect(abs(Double(clip.maxima[i]) - maxima[i]) <= 1e-5 * maxima[i], "group \(i): clamp \(clip.maxima[i]), numpy \(maxima[i])")
        }
        #expect(compared >= ratios.count * 9 / 10, "only \(compared) groups without a near-tie")
        // The reference clips some groups and keeps others: the search is not trivially 1 or 0.55.
        #expect(ratios.contains { $0 < 1 } && ratios.contains { $0 == 1 })
    }

    /// Clamps apply after the factors, per row and group (a short last group included), and a
    /// transform whose clamps do not fit the tensor is refused naming it.
    @Test func weightTransformClampsAfterScaling() throws {
        let t = WeightTransform(rowFactors: [1, 2], columnFactors: [1, 1, 1, 1, 1, 0.5, 1],
                                clamps: [9, 0.5, 0.25, 3, 1, 2], clampGroupSize: 3)
        #expect(t.clampGroups(rowLength: 7) == 3)
        var values: [Float] = [1, -2, 3, 4, -5, 6, 7,
                               1, -2, 3, 4, -5, 6, 7]
        t.apply(to: &values, rows: 0..<2, rowLength: 7)
        #expect(values == [1, -2, 3, 0.5, -0.5, 0.5, 0.25,
                           2, -3, 3, 1, -1, 1, 2])
        var second: [Float] = [1, -2, 3, 4, -5, 6, 7]
        t.apply(to: &second, rows: 1..<2, rowLength: 7)
        #expect(second == [2, -3, 3, 1, -1, 1, 2])

        let tensor = TensorInfo(name: "blk.0.ffn_up.weight", type: .ggml(.f32), shape: [7, 2], offset: 0, byteCount: 56, file: "m.gguf")
        try t.check(against: tensor)
        var short = t
        short.clamps = [1, 1, 1]
        #expect(throws: ConvertError.self) { try short.check(against: tensor) }
        var negative = t
        negative.clamps![4] = -1
        do {
            try negative.check(against: tensor)
            Issue.record("a negative clamp was accepted")
        } catch let error as ConvertError {
            #expect("\(error)".contains("blk.0.ffn_up.weight") && "\(error)".contains("clamp 4"))
        }
    }
}
