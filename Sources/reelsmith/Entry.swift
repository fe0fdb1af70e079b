import Foundation
import ReelCLI

/// The `reelsmith` executable: everything lives in `ReelCLI`.
@main
enum Entry {
    static func main() async {
        exit(await CLI.main(Array(CommandLine.arguments.dropFirst())))
    }
}
