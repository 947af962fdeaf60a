using Shadowing.Router.Hosting;

return await RouterHost.RunAsync(args);
