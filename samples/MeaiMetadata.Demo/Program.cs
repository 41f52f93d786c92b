using MeaiMetadata.Demo;

return await DemoProgram.RunAsync(args, Console.Out, Console.Error);
