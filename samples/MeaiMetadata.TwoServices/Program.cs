using MeaiMetadata.TwoServices;

return await TwoServicesProgram.RunAsync(args, Console.Out, Console.Error);
