using MeaiMetadata.SpendTool;

return await SpendProgram.RunAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable);
