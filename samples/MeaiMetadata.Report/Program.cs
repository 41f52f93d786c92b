using MeaiMetadata.Report;

return await ReportProgram.RunAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable);
