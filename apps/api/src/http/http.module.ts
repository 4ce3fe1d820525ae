import { Global, Module } from '@nestjs/common';
import { ErrorResponder } from './error-responder.js';

@Global()
@Module({ providers: [ErrorResponder], exports: [ErrorResponder] })
export class HttpModule {}
