import ArgumentParser

@main
struct Lowbit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lowbit",
        abstract: "Quantize LLM checkpoints, look inside model files, and measure what quantization cost.",
        subcommands: [])
}
