import Foundation
import LowbitCalibrate
import LowbitFormats
import LowbitTestSupport
import Testing

/// The AWQ search against an independent numpy float64 reference (written below, run with the
/// system's python3): the same x̄, w̄, candidate scales, fake-quantized block outputs and losses
/// for every ratio of the grid, and the same winner, on a feed-forward (gate/up) mapping and on
/// a projections mapping with outlier input channels.
@Suite struct AWQScaleSearchTests {
    static let (tokens, width, hidden) = (40, 64, 48)

    /// Symmetric 4-bit round to nearest in groups of 16 (scale = max|w| / 7, codes -8...7):
    /// the test's own fake quantization, mirrored in the numpy script.
    struct RoundToNearest: AWQFakeQuantizer {
        func groupSize(tensor: String, rowLength: Int) -> Int { 16 }
        func roundTrip(tensor: String, values: [Float], rowLength: Int) throws -> [Float] {
            var out = values
            for g in stride(from: 0, to: values.count, by: 16) {
                let m = values[g..<(g + 16)].reduce(0) { max($0, abs($1)) }
                let scale = m / 7
                for i in g..<(g + 16) {
                    out[i] = scale > 0 ? min(max((values[i] / scale).rounded(.toNearestOrEven), -8), 7) * scale : 0
                }
            }
            return out
        }
    }

    /// Writes `arrays` as little-endian f32 files NAME.f32 into a temporary directory, runs the
    /// numpy `script` on it (the directory as its argument) and parses the JSON it prints.
    static func runNumpy(_ script: String, tag: String, arrays: [(String, [Float])]) throws -> JSONValue {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, values) in arrays {
            try values.withUnsafeBytes { Data($0) }.write(to: dir.appendingPathComponent(name + ".f32"))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the numpy reference failed")
        return try JSONValue.parse([UInt8](output))
    }

    static func random(_ count: Int, _ rng: inout LCG64, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in (rng.nextUnitFloat() * 2 - 1) * scale }
    }

    static let numpy = """
        import json, os, sys
        import numpy as np
        d = sys.argv[1]
        n, k, f = 40, 64, 48
        def ld(name, rows):
            return np.fromfile(os.path.join(d, name + ".f32"), dtype="<f4").astype(np.float64).reshape(rows, -1)
        X = ld("x", n); gate = ld("gate", f); up = ld("up", f); down = ld("down", k); w1 = ld("w1", 24); w2 = ld("w2", 8)
        xm = np.abs(X).mean(0)
        def wmean(ws, g):
            W = np.concatenate(ws, 0)
            A = np.abs(W).reshape(-1, g)
            A = A / (A.max(1, keepdims=True) + 1e-6)
            return A.reshape(W.shape).mean(0)
        def fq(W, g):
            G = W.reshape(-1, g)
            sc = np.abs(G).max(1, keepdims=True) / 7
            safe = np.where(sc > 0, sc, 1)
            return np.where(sc > 0, np.clip(np.rint(G / safe), -8, 7) * sc, 0).reshape(W.shape)
        def scales(r, wm):
            s = np.maximum(xm ** r / (wm ** (1 - r) + 1e-4), 1e-4)
            s = s / np.sqrt(s.max() * s.min())
            s[~np.isfinite(s)] = 1
            return s
        def ffn(ws):
            z = X @ ws[0].T
            return (z / (1 + np.exp(-z)) * (X @ ws[1].T)) @ down.T
        def proj(ws):
            return np.concatenate([X @ w.T for w in ws], 1)
        def search(ws, block):
            ref = block(ws)
            wm = wmean(ws, 16)
            losses, cands = [], []
            for i in range(20):
                s = scales(i / 20, wm)
                out = block([fq(w * s, 16) / s for w in ws])
                losses.append(float(((out - ref) ** 2).mean()))
                cands.append(s.tolist())
            return {"losses": losses, "scales": cands}
        print(json.dumps({"ffn": search([gate, up], ffn), "proj": search([w1, w2], proj)}))
        """

    @Test func searchMatchesNumpyFloat64() throws {
        var rng = LCG64(seed: 11)
        let (n, k, f) = (Self.tokens, Self.width, Self.hidden)
        // Every 7th input channel is an outlier (8x), the pattern AWQ protects.
        var x = Self.random(n * k, &rng)
        for i in x.indices where (i % k) % 7 == 0 { x[i] *= 8 }
        let gate = Self.random(f * k, &rng, scale: 0.2), up = Self.random(f * k, &rng, scale: 0.2)
        let down = Self.random(k * f, &rng, scale: 0.2)
        let w1 = Self.random(24 * k, &rng, scale: 0.3), w2 = Self.random(8 * k, &rng, scale: 0.05)
        var means = [Double](repeating: 0, count: k)
        for i in x.indices { means[i % k] += Double(abs(x[i])) / Double(n) }

        let reference = try Self.runNumpy(Self.numpy, tag: "awq-search", arrays: [
            ("x", x), ("gate", gate), ("up", up), ("down", down), ("w1", w1), ("w2", w2)])

        let search = AWQScaleSearch(gridSize: 20)
        let problems = [
            ("ffn", try AWQMappingProblem(names: ["gate", "up"], weights: [gate, up], inputs: x, width: k, activationMeans: means,
                                      block: .swiGLU(down: down), threads: 2)),
            ("proj", try AWQMappingProblem(names: ["w1", "w2"], weights: [w1, w2], inputs: x, width: k, activationMeans: means,
                                       block: .projections, threads: 2)),
        ]
        for (key, problem) in problems {
            let choice = try problem.solve(search, quantizer: RoundToNearest())
            let losses = try #require(reference[key]?["losses"].flatMap(Self.doubles))
            guard case .array(let candidates)? = reference[key]?["scales"] else { Issue.record("no scales"); continue }
            #expect(choice.losses.count == 20 && losses.count == 20)
            for (i, (ours, theirs)) in zip(choice.losses, losses).enumerated() {
                #expect(abs(ours - theirs) <= 1e-3 * theirs, "\(key) ratio \(i)/20: loss \(ours), numpy \(theirs)")
            }
            let best = losses.indices.min { losses[$0] < losses[$1] }!
            let runnerUp = losses.indices.filter { $0 != best }.map { losses[$0] }.min()!
            // The winner is numpy's, unless numpy's two best are closer than the tolerance.
            if runnerUp > losses[best] * 1.002 {
                #expect(choice.ratio == Double(best) / 20, "\(key): ratio \(choice.ratio), numpy's \(best)/20")
            }
            let chosen = Int((choice.ratio * 20).rounded())
            let scales = try #require(Self.doubles(candidates[chosen]))
            for (ours, theirs) in zip(choice.scales, scales) {
                #expect(abs(Double(ours) - theirs) <= 1e-5 * theirs, "\(key): scale \(ours), numpy \(theirs)")
            }
            // The search earns its keep here: the best ratio is not 0 and beats plain rounding.
            #expect(best > 0 && losses[best] < 0.95 * losses[0], "\(key): numpy losses \(losses)")
        }
    }

    static func doubles(_ value: JSONValue) -> [Double]? {
        guard case .array(let items) = value else { return nil }
        return items.compactMap(\.doubleValue)
    }
}
