import ArgumentParser
import Foundation
import LowbitCalibrate
import LowbitConvert
import LowbitEval
import LowbitFormats
import LowbitQuant
import LowbitSystem

/// `convert`'s AWQ options (`--method awq`).
struct AWQArguments: ParsableArguments {
    @Option(help: "AWQ: ratios on the duo-scaling grid (alpha = 0, 1/N, ..., (N-1)/N).")
    var awqGrid: Int = 20

    @Option(help: "AWQ: at most this many calibration tokens score each candidate (an even sample of every chunk); all tokens count in the activation means.")
    var awqTokens: Int = 4096

    @Flag(help: "AWQ: also clip each linear's weights (mlx-lm's search: per row and group, the clamp of least output error among 1, 0.95, ..., 0.55 of the group's max |w|); q and k are not clipped.")
    var awqClip = false

    func validate() throws {
        guard awqGrid >= 1 else { throw ValidationError("--awq-grid must be at least 1") }
        guard awqTokens >= 1 else { throw ValidationError("--awq-tokens must be at least 1") }
    }

    /// What the run reports in the summary.
    struct Report {
        var chunks: Int, tokens: Int, scoredTokens: Int, mappings: Int, seconds: Double, peakResidentBytes: Int
        /// With `--awq-clip`: tensors clipped, and groups whose clamp is below their max |w|, of all groups.
        var clip: (tensors: Int, clippedGroups: Int, groups: Int)?

        func json() -> JSONValue {
            var fields: [(String, JSONValue)] = [
                ("method", .string("awq")), ("chunks", .integer(Int64(chunks))), ("tokens", .integer(Int64(tokens))),
                ("scored_tokens", .integer(Int64(scoredTokens))), ("mappings", .integer(Int64(mappings))),
                ("seconds", .number(seconds)), ("peak_rss_bytes", .integer(Int64(peakResidentBytes)))]
            if let clip {
                fields.append(("clip", .object([("tensors", .integer(Int64(clip.tensors))),
                                                ("clipped_groups", .integer(Int64(clip.clippedGroups))),
                                                ("groups", .integer(Int64(clip.groups)))])))
            }
            return .object(fields)
        }
    }

    /// Runs AWQ on the model at `input` over the calibration text, scoring candidates with the
    /// layouts `plan` encodes each tensor with, and returns the scales as weight transforms.
    func transforms(input: String, plan: ConversionPlan, calibration: CalibrationArguments,
                    quiet: Bool) throws -> (WeightTransforms, Report) {
        let start = Date()
        var layouts: [String: any WeightLayout] = [:]
        for job in plan.jobs { if let layout = job.encoding.layout { layouts[job.sourceName] = layout } }
        let (loaded, tokens, chunks) = try calibration.load(model: input)
        var options = AWQOptions()
        options.gridSize = awqGrid
        options.scoringTokens = awqTokens
        if awqClip { options.clip = AWQClipSearch() }
        let run = AWQRun(model: loaded.model, plan: chunks, quantizer: AWQLayoutQuantizer(layouts: layouts), options: options)
        if !quiet {
            Console.err("awq: \(chunks.chunkCount) chunks of \(chunks.contextLength) tokens of \(calibration.calibration!), grid \(awqGrid)\(awqClip ? ", clip search" : "")\(run.mapsValueToOutput ? "" : "; v -> o skipped (grouped-query attention)")\n")
        }
        let bar = ProgressBar(title: "awq", totalItems: loaded.model.layerCount, totalBytes: 0, unit: "layers")
        let result = try run.run(tokens: tokens) { _ in bar.advance(bytes: 0) }
        bar.finish()
        var transforms = WeightTransforms(method: "awq")
        for (name, f) in result.factors {
            transforms.byTensor[name] = WeightTransform(rowFactors: f.rows, columnFactors: f.columns)
        }
        for (name, clip) in result.clips {
            transforms.byTensor[name, default: WeightTransform()].clamps = clip.maxima
            transforms.byTensor[name]!.clampGroupSize = clip.groupSize
        }
        var report = Report(chunks: chunks.chunkCount, tokens: result.tokens, scoredTokens: result.scoredTokens,
                            mappings: result.mappings.count, seconds: Date().timeIntervalSince(start),
                            peakResidentBytes: ProcessMemory.peakResidentBytes() ?? 0)
        if awqClip {
            report.clip = (result.clips.count, result.clips.values.reduce(0) { $0 + $1.clippedGroups },
                           result.clips.values.reduce(0) { $0 + $1.maxima.count })
        }
        return (transforms, report)
    }
}
