import GasTownCLI
import Glibc

exit(await BD.main(CommandLine.arguments))
