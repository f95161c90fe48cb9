// Child process for the multi-process tests of the Git module.
//
//   gt-testhelper cas-push <remote> <work-repo> <branch> <count> <tag>
//
// Creates a bare repository at <work-repo>, then <count> times: fetches <branch> from <remote>, commits a new file
// on top, pushes with the compare-and-swap push and retries on rejection. Prints `LANDED <commit>` for each push
// that landed and `REJECTIONS <n>` at the end. Exit status 0 on success, 1 on a git error, 2 on bad arguments.
import Foundation
import Git

func runGitHelper(_ arguments: [String]) async {
    guard arguments.count == 7, arguments[1] == "cas-push", let count = Int(arguments[5]), count > 0 else {
        let usage = "usage: gt-testhelper cas-push <remote> <work-repo> <branch> <count> <tag>\n"
        FileHandle.standardError.write(Data(usage.utf8))
        exit(2)
    }
    do {
        let repository = try await GitRepository.create(at: arguments[3], bare: true)
        let rejections = try await GitBenchmarks.pushLoop(
            repository: repository, remote: arguments[2], branch: arguments[4], count: count, tag: arguments[6]
        ) { commit in
            FileHandle.standardOutput.write(Data("LANDED \(commit.hex)\n".utf8))
        }
        FileHandle.standardOutput.write(Data("REJECTIONS \(rejections)\n".utf8))
    } catch {
        FileHandle.standardError.write(Data("gt-testhelper: \(error)\n".utf8))
        exit(1)
    }
}
