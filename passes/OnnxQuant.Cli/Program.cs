// The `onnxquant` command. Everything lives in CliApp so tests can run the same code in-process.
return OnnxQuant.Cli.CliApp.Run(args, Console.Out, Console.Error);
