using System.CommandLine;
using OnnxQuant.Cli.Commands;
using Spectre.Console;

var root = new RootCommand("OnnxQuant: post-training quantization compiler for ONNX models.");
PipelineCli.AddCommands(root, AnsiConsole.Console, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }));
return root.Parse(args).Invoke();
