using System.CommandLine;
using OnnxQuant.Cli.Commands;

var root = new RootCommand("OnnxQuant: post-training quantization compiler for ONNX models.");
PipelineCli.AddCommands(root);
return root.Parse(args).Invoke();
