console.log("fixture frontend");
